#!/bin/sh
# The image's install step (also run for real by tests/deploy): lcad and its runtime
# requirements for one variant (deploy/requirements.py: cpu = serving, full, gpu) into the
# Python environment first on PATH, and that environment's Keras backend
# ($prefix/keras/keras.json, read through KERAS_HOME: the cpu image has JAX only).
set -eu
variant="${1:-cpu}"
cd "$(dirname "$0")/.."
pip_install() { python -m pip install --no-cache-dir --disable-pip-version-check "$@"; }
if [ "$variant" = cpu ] && [ -f deploy/requirements-cpu.lock ]; then
  pip_install -r deploy/requirements-cpu.lock  # the pinned, audited set (make lock)
else
  python deploy/requirements.py "$variant" > /tmp/lcad-requirements.txt
  pip_install -r /tmp/lcad-requirements.txt
  rm -f /tmp/lcad-requirements.txt
fi
pip_install --no-deps .
if [ "$variant" = cpu ]; then  # the serving image's budget (1 GB): no test suites, no pip
  site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  find "$site" -mindepth 2 -type d -name tests -prune -exec rm -rf {} +
  python -m pip uninstall -q -y pip setuptools wheel 2>/dev/null || true
fi
home="$(python -c 'import sys; print(sys.prefix)')/keras"
mkdir -p "$home"
printf '{"backend": "%s", "floatx": "float32", "epsilon": 1e-07, "image_data_format": "channels_last"}\n' \
  "$(python deploy/requirements.py --backend "$variant")" > "$home/keras.json"
