#!/usr/bin/env bash
# The full quality grid (8 prompts x 2 seeds, 1/2/4/8x, every method) on the GPU machine (device tool).
#   bash benchmarks/quality/run_on_device.sh [seconds]      # default 480: each shard stops by then
#   METHODS=direct,ultravico RATIOS=2,4 NO_VIDEOS=1 bash benchmarks/quality/run_on_device.sh 300
#                                                           # another grid; NO_VIDEOS: return the tables only
#   FIRST_SEED=20 ...                                       # seeds 20, 21 instead of 0, 1 (choosing settings)
#   GRID=timeline METHODS=direct,both RATIOS=2,4,8 ...      # the prompt-timeline grid: one shard per method
# Carry `.evalcarry/` (made here, see benchmarks/quality/README.md): diffusers and imageio-ffmpeg,
# xz-packed to fit the working-tree limit. One `vidlong eval` process per prompt runs on the one GPU
# (attention of this model is small: the dense kernel, no compile); each writes its own results.csv,
# resumable. Returns $OUT/shards.tar.gz (results.csv + log of each shard) and the mp4s in
# $OUT/videos.tar.part-* (15 MB parts).
set -euo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
LIMIT=${1:-480}
GRID=${GRID:-lengths}
case "$GRID" in
    lengths) METHODS=${METHODS:-direct,riflex,window,ultravico,freelong,both,stream} ;;
    timeline) METHODS=${METHODS:-direct,ultravico,freelong,both,stream} ;;
    *) echo "GRID must be lengths or timeline, got $GRID" >&2; exit 2 ;;
esac
RATIOS=${RATIOS:-1,2,4,8}
source benchmarks/device_setup.sh
rm -rf /tmp/ev && mkdir -p /tmp/ev  # a warm machine may hold an earlier call's shards
cd /tmp  # keep the repo's vidlong/ folder off sys.path
if [ "$GRID" = timeline ]; then  # its prompts are made per ratio: one shard per method instead
    i=0
    for method in ${METHODS//,/ }; do
        shard=/tmp/ev/p$i; i=$((i + 1))
        timeout "$LIMIT" python3 -m vidlong.eval --model default --grid timeline --ratios "$RATIOS" --methods "$method" --seeds 2 \
            --first-seed "${FIRST_SEED:-0}" --device cuda --no-progress --out "$shard" >"$shard.log" 2>&1 &
    done
else
    python3 -c "from vidlong.eval.runner import DEFAULT_PROMPTS as P; [open(f'/tmp/ev/p{i}.txt', 'w').write(p + '\n') for i, p in enumerate(P)]"
    for prompts in /tmp/ev/p*.txt; do
        shard=/tmp/ev/$(basename "$prompts" .txt)
        timeout "$LIMIT" python3 -m vidlong.eval --model default --prompts "$prompts" --ratios "$RATIOS" --methods "$METHODS" --seeds 2 --first-seed "${FIRST_SEED:-0}" \
            --device cuda --no-progress --out "$shard" >"$shard.log" 2>&1 &
    done
fi
wait || true
tail -n 2 /tmp/ev/*.log
for f in /tmp/ev/p*/results.csv; do echo "$f: $(($(wc -l <"$f") - 1)) cells"; done
tar czf "$OUT/shards.tar.gz" -C /tmp/ev --exclude=videos .
if [ -z "${NO_VIDEOS:-}" ]; then (cd /tmp/ev && tar cf - p*/videos) | split -b 15m - "$OUT/videos.tar.part-"; fi
ls -la "$OUT"
