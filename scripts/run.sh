#!/usr/bin/env bash
# One command: set up, load the sample data into the embedded SpatiaLite database (first run only),
# and serve the map app through gunicorn on http://127.0.0.1:8050/ (override with INSIGHT_HOST / INSIGHT_PORT;
# workers and threads are sized from the machine, override with INSIGHT_SERVE_WORKERS / INSIGHT_SERVE_THREADS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/insight db upgrade
.venv/bin/insight load-sample --if-empty
exec .venv/bin/insight serve --host "${INSIGHT_HOST:-127.0.0.1}" --port "${INSIGHT_PORT:-8050}"
