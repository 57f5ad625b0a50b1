# Sourced by the benchmark scripts that run on the GPU machine (device tool), from the repo root:
# unpacks `$CARRY` (default `.evalcarry/`: diffusers and imageio-ffmpeg, xz-packed; see
# benchmarks/quality/README.md; imageio-ffmpeg may be left out where no mp4 is written) into /tmp/site,
# installs this package into /tmp/pkg and puts both on PYTHONPATH.
CARRY=${CARRY:-.evalcarry}
mkdir -p /tmp/site
tar xJf $CARRY/diffusers.tar.xz -C /tmp/site
if [ -f $CARRY/imageio_ffmpeg.tar.xz ]; then
    tar xJf $CARRY/imageio_ffmpeg.tar.xz -C /tmp/site
    unxz -f /tmp/site/imageio_ffmpeg/binaries/*.xz
    chmod +x /tmp/site/imageio_ffmpeg/binaries/ffmpeg-*
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/pkg . >/dev/null
export PYTHONPATH=/tmp/site:/tmp/pkg
