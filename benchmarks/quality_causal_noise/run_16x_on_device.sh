#!/usr/bin/env bash
# The 16x rows of RESULTS.md's "Correlated starting noise for each chunk" (session 72) on one GPU: every prompt x seed
# 0-1 at NC=0 (the stock stream) and NC=0.5, one process each, side by side on the card; rows and logs in $OUT/r16.tar.
# Run from the repository root with the device setup sourced (benchmarks/device_setup.sh).
set -u
mkdir -p /tmp/r16
for nc in 0 0.5; do
  for s in 0 1; do
    for i in 0 1 2 3 4 5 6 7; do
      NC=$nc python3 benchmarks/quality_causal_noise/correlated_noise.py --models default-causal --guidance 4.5 \
        --ratios 16 --seeds $s --prompts $i --prompt-set vidlong --out /tmp/r16/nc${nc}_p${i}_s${s}.json \
        > /tmp/r16/nc${nc}_p${i}_s${s}.log 2>&1 &
    done
  done
done
wait
tar cf "$OUT/r16.tar" -C /tmp r16
