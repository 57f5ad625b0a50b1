#!/usr/bin/env bash
# Train `default-fifo` (training/train_fifo.py) on the GPU machine (device tool) and score its diagonal
# denoising against the default model's, paired on the same prompts and seeds (benchmarks/fifo.py at the
# shipped fifo settings for this model: 3 partitions, a sink, guidance 4.5, 4.5/6/7.5 by partition; no mp4,
# so imageio-ffmpeg is not needed), in one call:
#   CARRY=.kcarry TRAIN="--max-seconds 200 --clips 4096" RATIOS="4 8 16" SEEDS="20 21" bash training/run_fifo_on_device.sh
# CARRY holds diffusers.tar.xz (benchmarks/device_setup.sh). One scoring process per variant and prompt (PROMPTS: the
# built-in prompts' indices, default all 8; DEVICE: cuda; SCORE: the variants beside the default model's, "lora" and/or
# "queue", default both; RATIOS; SEEDS).
# Writes to $OUT: train.log, model.tar (the model folder, train_log.csv, summary.json) and rows.tar (rows/VARIANT_RATIO_pI.json
# and each process's log; one tar, since the device tool returns a handful of files per call).
set -uo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
REPO=$PWD
source benchmarks/device_setup.sh
export PYTHONPATH=$PYTHONPATH:$REPO
cd /tmp  # keep the repo's vidlong/ folder off sys.path
# shellcheck disable=SC2086
timeout "${TRAIN_SECONDS:-420}" python3 -m training.train_fifo --base /tmp/pkg/vidlong/default_model --out /tmp/fifo \
    --work-dir /tmp/fifo_clips --workers 15 ${TRAIN:-} > "$OUT/train.log" 2>&1 || { tail -20 "$OUT/train.log"; exit 1; }
grep "^\[done\]\|^\[encode\]\|cap hit" "$OUT/train.log"
tar cf "$OUT/model.tar" -C /tmp/fifo model train_log.csv summary.json
mkdir -p "$OUT/rows"
# each variant: the default model alone, the LoRA'd model alone ("lora"), or the default model's native video with
# the LoRA'd model denoising the queue ("queue": benchmarks/fifo.py --queue-model)
for variant in default ${SCORE:-lora queue}; do
    case $variant in
        default) models=(--model default);;
        lora) models=(--model /tmp/fifo/model);;
        queue) models=(--model default --queue-model /tmp/fifo/model);;
    esac
    for i in ${PROMPTS:-0 1 2 3 4 5 6 7}; do
        (for ratio in ${RATIOS:-4 8 16}; do
            # shellcheck disable=SC2086
            timeout "${SCORE_SECONDS:-300}" python3 "$REPO/benchmarks/fifo.py" "${models[@]}" --prompt $i --seeds ${SEEDS:-20 21} \
                --ratio "$ratio" --partitions 3 --guidance 4.5 --partition-guidance 4.5 6 7.5 --no-mp4 --device "${DEVICE:-cuda}" \
                --out "$OUT/rows/${variant}_${ratio}_p$i.json"
        done) > "$OUT/rows/${variant}_p$i.log" 2>&1 &
    done
done
wait
python3 - "$OUT/rows" <<'EOF'
import json, pathlib, statistics, sys
rows = [r for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")) for r in json.loads(f.read_text())]
by = {}
for r in rows:
    variant = "queue" if r.get("queue_model") else "default" if r["model"] == "default" else "lora"
    by.setdefault((variant, r["ratio"]), []).append(r)
for (model, ratio), cell in sorted(by.items()):
    mean = lambda key: statistics.mean(r[key] for r in cell)
    print(f"{model:8s} {ratio:5.1f}x n={len(cell):2d} all present {mean('shapes_frac_frames_all_present'):.3f} "
          f"vanish {mean('shapes_vanish_events'):.2f} repetition {mean('repetition'):.3f} flicker {mean('temporal_flicker'):.3f} "
          f"colour fidelity {mean('shapes_colour_fidelity'):.3f}")
EOF
tar cf "$OUT/rows.tar" -C "$OUT" rows && rm -rf "$OUT/rows"
