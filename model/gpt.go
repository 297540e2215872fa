package model

// This file is the model: a GPT-2 style decoder-only transformer, defined
// once (gpt) and run by every backend through kernels:
//
//   - graphKernels (graph_kernels.go) builds the gorgonia training graph
//     from the fused ops of ops_*.go, with the language-model loss (Graph)
//     or the preference model's scalar head (ScalarGraph);
//   - rowKernels (infer_rows.go) records the float32 KV-cache pass of the
//     Sampler, which also reads the residual stream for probes
//     (activations.go);
//   - refKernels (reference.go) is the float64 oracle the others are tested
//     against (ReferenceLogits).
//
// Each backend keeps its own arithmetic (fused ops, row-wise axpy
// products, float64 loops); what they share is the architecture below.

// lnEps is the LayerNorm epsilon (as GPT-2 and PyTorch's default).
const lnEps = 1e-5

// kernels are the layers of a GPT on one backend. X is the backend's
// activation: one row per token position of the pass (n rows); T is a
// parameter tensor. Shapes are (rows, columns); d is d_model.
type kernels[X, T any] interface {
	// Embed returns wte[id] + wpe[position] for every token: (n, d).
	Embed(wte, wpe T) X
	// LayerNorm normalizes each row with gain g and shift b (d): (n, d) → (n, d).
	LayerNorm(x X, g, b T) X
	// Attention is block layer's causal multi-head self-attention, its
	// queries, keys and values being h·w + b (w (d, 3d), b (3d)), heads
	// merged: (n, d) → (n, d).
	Attention(h X, w, b T, layer int) X
	// OutputRows keeps, in the residual stream x and the attention output
	// a, the rows whose output the caller wants (all of them in training;
	// the last token of each sequence in the sampler and the probes). Past
	// the last block's attention the rows are independent.
	OutputRows(x, a X) (X, X)
	// AddLinear returns the residual stream plus a projection, x + a·w + b:
	// x (n, d), a (n, k), w (k, d), b (d).
	AddLinear(x, a X, w, b T) X
	// LinearGELU returns GELU(h·w + b), the tanh approximation: h (n, d),
	// w (d, mlp), b (mlp) → (n, mlp).
	LinearGELU(h X, w, b T) X
	// Residual observes the residual stream after the first layer blocks
	// (0: the embeddings).
	Residual(layer int, x X)
	// Head maps the final hidden states h (n, d) through the language-model
	// head (d, vocab) — or, for a tied config, through wte (vocab, d)
	// transposed: to logits, or to a loss built on them.
	Head(h X, lmHead T) X
}

// gpt is the forward pass, from token ids (the backend's input) to the
// output of k.Head.
func gpt[X, T any](k kernels[X, T], p *Params[T]) X {
	x := k.Embed(p.TokenEmbed, p.PosEmbed)
	k.Residual(0, x)
	for l := range p.Blocks {
		b := &p.Blocks[l]
		// x = x + c_proj(attention(c_attn(ln_1(x))))
		a := k.Attention(k.LayerNorm(x, b.LN1Weight, b.LN1Bias), b.QKVWeight, b.QKVBias, l)
		if l == len(p.Blocks)-1 {
			x, a = k.OutputRows(x, a)
		}
		x = k.AddLinear(x, a, b.AttnProjWeight, b.AttnProjBias)
		// x = x + c_proj(gelu(c_fc(ln_2(x))))
		u := k.LinearGELU(k.LayerNorm(x, b.LN2Weight, b.LN2Bias), b.FCWeight, b.FCBias)
		x = k.AddLinear(x, u, b.MLPProjWeight, b.MLPProjBias)
		k.Residual(l+1, x)
	}
	return k.Head(k.LayerNorm(x, p.LNFWeight, p.LNFBias), p.LMHead)
}
