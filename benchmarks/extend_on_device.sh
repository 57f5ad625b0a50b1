#!/usr/bin/env bash
# benchmarks/extend.py on the GPU machine (device tool), several settings at once on the one GPU.
#   bash benchmarks/extend_on_device.sh "NAME: extend.py flags" ["NAME: flags" ...]
# e.g. bash benchmarks/extend_on_device.sh "renoise: --context renoise" "cache: --context cache"
# Carry `.evalcarry/` (see benchmarks/quality/README.md: diffusers and imageio-ffmpeg, xz-packed).
# Returns $OUT/NAME.json (rows and means) for each setting (8 at most) and prints each one's means.
set -euo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
source benchmarks/device_setup.sh
cp benchmarks/extend.py benchmarks/common.py /tmp/
cd /tmp  # keep the repo's vidlong/ folder off sys.path
for variant in "$@"; do
    name=${variant%%:*}
    # shellcheck disable=SC2086
    python3 extend.py --device cuda ${variant#*:} --out "$OUT/$name.json" >"/tmp/$name.log" 2>"/tmp/$name.err" &
done
wait
for variant in "$@"; do name=${variant%%:*}; echo "== $name: ${variant#*:}"; tail -n 2 "/tmp/$name.log"; tail -n 1 "/tmp/$name.err"; done
