#!/bin/sh
# Used by benchmarks/run.py for pytest-postgresql, which runs pg_ctl as the current user. PG_CTL: the real one.
# Run pg_ctl as postgres (initdb refuses root); open up pytest's private temp dirs for it first.
for arg in "$@"; do
  case "$arg" in
    /tmp/*) d=$(dirname "$arg"); while [ "$d" != "/tmp" ] && [ "$d" != "/" ]; do chmod 777 "$d" 2>/dev/null; d=$(dirname "$d"); done ;;
  esac
done
if [ "$(id -u)" = 0 ]; then exec runuser -u postgres -- "$PG_CTL" "$@"; else exec "$PG_CTL" "$@"; fi
