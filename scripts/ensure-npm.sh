#!/usr/bin/env bash
# Make sure npm is available (the web map's MapLibre GL JS is installed from npm), then run
# `npm ci` when package-lock.json is newer than node_modules, and copy MapLibre's dist files
# into api/static/vendor/ (where /map looks first, and which `pip install .` packages, so a
# non-editable install serves them too; the Dockerfile does the same in its node stage).
# Installs Debian's npm (which brings Node.js) with apt-get when missing; needs root or sudo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v npm >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "ensure-npm: npm is missing; install nodejs and npm (needs root)" >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    echo "ensure-npm: installing Debian npm"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm
fi
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
fi
mkdir -p api/static/vendor
printf '# copied by scripts/ensure-npm.sh from node_modules: never committed\n*\n' \
    >api/static/vendor/.gitignore
for name in maplibre-gl.js maplibre-gl.css maplibre-gl.js.map; do
    cp "node_modules/maplibre-gl/dist/$name" api/static/vendor/
done
