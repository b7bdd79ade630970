#!/usr/bin/env bash
# One command: set up (SpatiaLite, Chromium, PostgreSQL + PostGIS, Python packages), check lint and types,
# start a throwaway PostGIS cluster on loopback, run the whole test suite against both databases, stop it.
# Extra arguments go to pytest, e.g. scripts/test.sh -k store
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "==> ruff check"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
bash scripts/postgis.sh start
trap 'bash scripts/postgis.sh stop' EXIT
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:${INSIGHT_PGPORT:-55432}/insight_test"
.venv/bin/python -m pytest "$@"
