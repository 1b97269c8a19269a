#!/bin/sh
# CI's stand-in for the official base image, where no container registry is reachable:
# lcad-ci/python:3.11, Debian bookworm (debootstrap, minbase) with Debian's Python 3.11 and
# the host's CA bundle (pip in the build must trust what the host's pip trusts). The real
# user's build pulls python:3.11-slim; CI passes
#   docker build --build-arg PYTHON_IMAGE=lcad-ci/python:3.11 .
# Needs root, debootstrap and a running Docker engine. Does nothing if the image exists.
set -eu
IMAGE="${1:-lcad-ci/python:3.11}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE exists"; exit 0
fi
MIRROR=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' \
         'Identifier: Packages' | sort -u | head -1)
MIRROR="${MIRROR:-http://deb.debian.org/debian/}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }
tar -C "$work/rootfs" -c . | docker import - lcad-ci/debian:bookworm >/dev/null
mkdir "$work/ctx"
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$work/ctx/host-ca.crt"
cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM lcad-ci/debian:bookworm
COPY host-ca.crt /usr/local/share/ca-certificates/host-ca.crt
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       python3 python3-venv python-is-python3 ca-certificates >/dev/null \
    && update-ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
DOCKERFILE
docker build -q -t "$IMAGE" "$work/ctx" >/dev/null
echo "$IMAGE built (stand-in for python:3.11-slim)"
