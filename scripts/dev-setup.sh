#!/usr/bin/env bash
# A contributor's machine, as CI's: system packages (PostgreSQL, git, chromium), the `postgres`
# account the tests run PostgreSQL as when root, and .venv with uv, the harness and the dev tools.
# README's "Developing this repository" and .ci/run both run this, so they give the same result.
# Debian/Ubuntu; as root, or with sudo for the system steps. Re-running it recreates .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "dev-setup: needs root for: $*  (run it as root, or install sudo)" >&2; exit 1
  fi
}

echo "== system packages"
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v git >/dev/null || missing+=(git)  # the diff-coverage tests commit to a scratch repository
# the HTML report's screenshot test (tests/integration/test_html_screenshot.py); fonts: recommended, not pulled in here
command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)  # Debian splits venv out of python3
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# PostgreSQL refuses to run as root; the harness runs it as this account (tests/integration/test_options.py expects it).
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
fi

echo "== python environment (.venv)"
rm -rf .venv
# uv goes into the project's venv: pip refuses to install into Debian's own Python (PEP 668).
# The dependency tests (tests/integration/test_dependencies.py) skip without it.
"$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q uv
# --compile-bytecode: as pip does by default; PYTHONDONTWRITEBYTECODE (set by .ci/run) would otherwise make every
# interpreter compile pytest and SQLAlchemy from source again (seconds per run, and skewed benchmarks).
uv pip install -q --compile-bytecode -e "./harness[embedded,alembic,fastapi,xdist]" -r requirements-dev.txt \
  -r benchmarks/requirements.txt
python -c "import pytest, pytest_asyncio, sqlalchemy; print('pytest', pytest.__version__, '| pytest-asyncio', \
pytest_asyncio.__version__, '| sqlalchemy', sqlalchemy.__version__)"
echo "dev-setup: done; activate with: . .venv/bin/activate"
