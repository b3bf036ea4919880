#!/usr/bin/env bash
# Installs what WardFleet needs on Debian 12: the mosquitto broker and clients, PostgreSQL (tests start a
# private server of their own; the cluster mode uses one), the C libraries
# the Swift build links (libmosquitto, SQLite), ffmpeg (probing and checking audio) and espeak-ng
# (offline Vietnamese text-to-speech), prometheus (its promtool checks deploy/prometheus/). The Swift 6.3 toolchain is expected.
set -euo pipefail
packages=(mosquitto mosquitto-clients openssl libmosquitto-dev libsqlite3-dev zlib1g-dev pkg-config ffmpeg espeak-ng libcurl4 postgresql
          chromium chromium-driver python3-venv prometheus)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "Swift 6.3 toolchain not found on PATH (https://www.swift.org/install/linux/)" >&2; exit 1; }
# Python tools for the tests, in a venv inside .build (kept out of git): Selenium for the browser
# tests, axe-core (axe-selenium-python) for their accessibility checks, schemathesis for the API contract test. pip runs as `python -m pip` so that it installs
# into this venv even when .build was copied from another checkout (a venv's scripts name the
# interpreter by absolute path).
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.build/browser-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import selenium, schemathesis, axe_selenium_python" 2>/dev/null; then
    mkdir -p "$repo/.build"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q "selenium>=4.20,<5" "schemathesis>=4.0,<5" "axe-selenium-python>=2.1,<3"
fi
