# Sourced by the benchmark scripts that run on the GPU machine (device tool), from the repo root:
# unpacks `$CARRY` (default `.evalcarry/`: diffusers and imageio-ffmpeg, xz-packed; see
# benchmarks/quality/README.md; imageio-ffmpeg may be left out where no mp4 is written; any wheels there, e.g.
# ftfy and wcwidth for image-to-video) into /tmp/site,
# installs this package into /tmp/pkg and puts both on PYTHONPATH.
# Once per command: VIDLONG_SETUP_DONE is exported, so a script it starts that sources this again skips it.
if [ -z "${VIDLONG_SETUP_DONE:-}" ]; then
CARRY=${CARRY:-.evalcarry}
mkdir -p /tmp/site
tar xJf $CARRY/diffusers.tar.xz -C /tmp/site
if [ -f $CARRY/imageio_ffmpeg.tar.xz ]; then
    tar xJf $CARRY/imageio_ffmpeg.tar.xz -C /tmp/site
    unxz -f /tmp/site/imageio_ffmpeg/binaries/*.xz
    chmod +x /tmp/site/imageio_ffmpeg/binaries/ffmpeg-*
fi
if ls $CARRY/*.whl >/dev/null 2>&1; then  # pure-Python needs the device lacks (ftfy + wcwidth: Wan I2V's prompt cleaning)
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site $CARRY/*.whl >/dev/null
fi
rm -rf /tmp/pkg  # a warm machine keeps the previous call's copy of this package
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/pkg . >/dev/null
# the tests' guard (tests/conftest.py) takes this copy as this checkout's code
export PYTHONPATH=/tmp/site:/tmp/pkg VIDLONG_SETUP_DONE=1 VIDLONG_INSTALLED_FROM="$(pwd -P)" VIDLONG_INSTALLED_TO=/tmp/pkg
fi
