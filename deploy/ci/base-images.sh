#!/bin/sh
# CI's stand-in for the official base image, where no container registry is reachable:
# lcad-ci/python:3.11, Debian bookworm (debootstrap, minbase) with Debian's Python 3.11 and
# the host's CA bundle (pip in the build must trust what the host's pip trusts). The real
# user's build pulls python:3.11-slim; CI passes
#   docker build --build-arg PYTHON_IMAGE=lcad-ci/python:3.11 .
# Also lcad-ci/postgres:15, a stand-in for postgres:16.4-bookworm in the compose stack
# (PostgreSQL 16 is not in bookworm): Debian's postgresql-15 with an entry point that honours
# the official image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB and data directory.
# Needs root, debootstrap and a running Docker engine. Makes only the images that are missing.
set -eu
IMAGE="${1:-lcad-ci/python:3.11}"
PG_IMAGE="${2:-lcad-ci/postgres:15}"
if docker image inspect "$IMAGE" >/dev/null 2>&1 && docker image inspect "$PG_IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE and $PG_IMAGE exist"; exit 0
fi
MIRROR=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' \
         'Identifier: Packages' | sort -u | head -1)
MIRROR="${MIRROR:-http://deb.debian.org/debian/}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! docker image inspect lcad-ci/debian:bookworm >/dev/null 2>&1; then
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | docker import - lcad-ci/debian:bookworm >/dev/null
fi
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

mkdir "$work/pg"
cat >"$work/pg/entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# the official postgres image's interface, on Debian's PostgreSQL 15
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user="${POSTGRES_USER:-postgres}" db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
PGDATA=/var/lib/postgresql/data
bin=/usr/lib/postgresql/15/bin
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pw && chown postgres /tmp/pw
  as_pg "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile=/tmp/pw -A scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null  # UTF8 as the official image (not SQL_ASCII)
  rm -f /tmp/pw
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | as_pg "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'
ENTRYPOINT
cat >"$work/pg/Dockerfile" <<'DOCKERFILE'
FROM lcad-ci/debian:bookworm
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
RUN chmod 755 /usr/local/bin/entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
DOCKERFILE
docker build -q -t "$PG_IMAGE" "$work/pg" >/dev/null
echo "$PG_IMAGE built (stand-in for postgres:16.4-bookworm)"
