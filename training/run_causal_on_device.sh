#!/usr/bin/env bash
# Train block-causal default models on the GPU machine (device tool) and compare their streamed videos
# (`training/compare_streams.py`: no mp4 is written, so imageio-ffmpeg is not needed), in one call:
#   CARRY=.causalcarry TRAIN="--seed 6 --lora-init /tmp/carry/v1;--seed 6 --rollout-share 0" \
#   COMPARE="default;/tmp/carry/v1 --guidance 3 1" bash training/run_causal_on_device.sh
# CARRY holds diffusers.tar.xz and earlier model folders (copied to /tmp/carry/). TRAIN: ';'-separated
# train_causal.py argument sets, trained side by side into /tmp/runK. COMPARE: ';'-separated
# compare_streams arguments run while they train; each new model is then compared at NEW_GUIDANCE
# ("3 1"), or with the compare_streams arguments NEW_COMPARE in full. COMPARE_SECONDS: a time limit for
# each compare process. TRAINER: the training module
# (default train_causal; distill_causal for the few-step distillation, e.g.
# TRAINER=distill_causal TRAIN="--teacher /tmp/pkg/vidlong/default_causal_model --max-seconds 900" NEW_GUIDANCE=1). Writes to $OUT: log.txt, runK.tar (the model folder, train_log.csv, summary.json, train log),
# compare.tar.gz.
set -euo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
REPO=$PWD
source benchmarks/device_setup.sh
export PYTHONPATH=$PYTHONPATH:$REPO
mkdir -p /tmp/carry /tmp/cmp && cp -r $CARRY/* /tmp/carry/
cd /tmp  # keep the repo's vidlong/ folder off sys.path
compare() {  # name, compare_streams arguments: one process per prompt
    local name=$1; shift
    for i in 0 1 2 3 4 5 6 7; do
        # shellcheck disable=SC2068
        timeout ${COMPARE_SECONDS:-3000} python3 -m training.compare_streams $@ --prompts $i --out /tmp/cmp/$name.p$i.json > /tmp/cmp/$name.p$i.log 2>&1 &
    done
}
IFS=';' read -ra TRAINS <<< "${TRAIN:-}"
IFS=';' read -ra OLD <<< "${COMPARE:-}"
pids=()
for k in "${!TRAINS[@]}"; do
    # shellcheck disable=SC2086
    python3 -m training.${TRAINER:-train_causal} --base /tmp/pkg/vidlong/default_model --out /tmp/run$k --work-dir /tmp/clips$k \
        --workers 7 ${TRAINS[$k]} > /tmp/run$k.log 2>&1 &
    pids+=($!)
done
for k in "${!OLD[@]}"; do compare old$k --models ${OLD[$k]}; done
for k in "${!TRAINS[@]}"; do
    wait ${pids[$k]} || { tail -20 /tmp/run$k.log; exit 1; }
    cp /tmp/run$k.log /tmp/run$k/
    echo "== run$k: ${TRAINS[$k]}" | tee -a $OUT/log.txt
    grep "^\[done\]\|^\[encode\]\|cap hit" /tmp/run$k.log | tee -a $OUT/log.txt
    tar cf $OUT/run$k.tar -C /tmp/run$k .
    # shellcheck disable=SC2086
    compare new$k --models /tmp/run$k/model ${NEW_COMPARE:---guidance ${NEW_GUIDANCE:-3 1}}
done
wait
python3 -m training.compare_streams --merge $(ls /tmp/cmp/*.json) 2>&1 | tee -a $OUT/log.txt
grep -il "error" /tmp/cmp/*.log | head -3 | xargs -r tail -n 3 || true  # (no match is no error)
tar czf $OUT/compare.tar.gz -C /tmp/cmp .
