#!/usr/bin/env bash
# Train the default model on the GPU machine (device tool) and pack the result into $OUT.
#   bash training/run_on_device.sh [extra train.py args...]
# Needs the diffusers wheel in .whl/ (carried). Writes $OUT/log.txt, $OUT/run.tar.part-* (the
# run folder: pipeline/, train_log.csv, summary.json, loss.png), then the sampler sweep
# ($OUT/sweep.json, $OUT/samples.npz) so a late failure still leaves the trained model.
set -euo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
# vidlong as installed (its attention/, schedulers/ ... folders become vidlong.*), training from here
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/pkg . >/dev/null
export PYTHONPATH=/tmp/site:/tmp/pkg:$PWD
cd /tmp  # `python -m` puts the working folder first on sys.path: keep the repo's vidlong/ off it
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
RUN=/tmp/run
mkdir -p $RUN
python3 -m training.train --out $RUN --work-dir /tmp/clips "$@" 2>&1 \
    | grep --line-buffered -v "Warning\|warn(\|should be kept in float32\|Writing model" \
    | tee $OUT/log.txt
tar cf - -C $RUN . | split -b 15m - $OUT/run.tar.part-
python3 -m training.sweep --model $RUN/pipeline --out $OUT/sweep.json \
    --samples $OUT/samples.npz ${SWEEP_ARGS:-} 2>&1 | grep --line-buffered "^\[sweep\]\|Error" \
    | tee -a $OUT/log.txt || true
ls -la $OUT
