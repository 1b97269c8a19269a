#!/bin/sh
# The image's install step (also run for real by tests/deploy): lcad and its runtime
# requirements for one variant into the Python environment first on PATH.
set -eu
variant="${1:-cpu}"
cd "$(dirname "$0")/.."
python deploy/requirements.py "$variant" > /tmp/lcad-requirements.txt
python -m pip install --no-cache-dir --disable-pip-version-check -r /tmp/lcad-requirements.txt
python -m pip install --no-cache-dir --disable-pip-version-check --no-deps .
rm -f /tmp/lcad-requirements.txt
