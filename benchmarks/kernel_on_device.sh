#!/usr/bin/env bash
# The fused kernel's pending GPU work (issue 20) in one device call: the Gluon kernel's GPU tests under a timeout,
# so that a hung kernel cannot eat the call, then the kernels alone at Wan2.1-1.3B shapes (Triton, Gluon; the plain,
# decay, 3-branch fusion and `both` plans, and `both` without UltraViCo's key centring or first-frame guard).
# Logs in $OUT: kernel_tests.log, kernel_tuning.log.
#   CARRY=.kcarry bash benchmarks/kernel_on_device.sh [latent frames ...]   (default: 84 42 21)
# Carry a folder with diffusers xz-packed (benchmarks/device_setup.sh; imageio-ffmpeg is not needed here).
set -uo pipefail
export PYTHONUNBUFFERED=1
source benchmarks/device_setup.sh
frames=${*:-84 42 21}
(cd tests && timeout 300 python3 -m pytest -q -m gpu -p no:cacheprovider test_fused_kernel.py \
    -k warp_specialized) 2>&1 | tee "$OUT/kernel_tests.log"
# shellcheck disable=SC2086
(cd benchmarks && timeout 240 python3 fused_tuning.py --frames $frames --block-n 128 --warps 8 --stages 3 \
    --ws off auto --plans plain decay fusion3 both3 both3-uncentred both3-unguarded) 2>&1 | tee "$OUT/kernel_tuning.log"
