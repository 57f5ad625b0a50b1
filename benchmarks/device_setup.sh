# Sourced by the benchmark scripts that run on the GPU machine (device tool), from the repo root:
# unpacks `.evalcarry/` (diffusers and imageio-ffmpeg, xz-packed; see benchmarks/quality/README.md)
# into /tmp/site, installs this package into /tmp/pkg and puts both on PYTHONPATH.
mkdir -p /tmp/site
tar xJf .evalcarry/diffusers.tar.xz -C /tmp/site
tar xJf .evalcarry/imageio_ffmpeg.tar.xz -C /tmp/site
unxz -f /tmp/site/imageio_ffmpeg/binaries/*.xz
chmod +x /tmp/site/imageio_ffmpeg/binaries/ffmpeg-*
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/pkg . >/dev/null
export PYTHONPATH=/tmp/site:/tmp/pkg
