#!/usr/bin/env bash
# Set up Local Insight on Debian 12: system packages (as root) and a Python virtual environment.
#   scripts/setup.sh          -> what the app needs (SpatiaLite)
#   scripts/setup.sh --test   -> plus Chromium and PostgreSQL + PostGIS for the test suite
# Idempotent: packages already present are not reinstalled; the venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libsqlite3-mod-spatialite libpango-1.0-0 libpangoft2-1.0-0)
extra=""
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium postgresql postgresql-15-postgis-3)
  extra="[test]"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Installing ${missing[*]} needs root: run this command with sudo." >&2
    exit 1
  fi
  echo "==> installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating the virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing Python packages (pip install -e .$extra)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra"
