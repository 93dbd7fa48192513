#!/usr/bin/env bash
# Make sure npm is available (the web map's MapLibre GL JS and the API docs' Swagger UI and
# ReDoc are installed from npm), then run `npm ci` when package-lock.json is newer than
# node_modules, and copy the files the pages load into api/static/vendor/ (where /map, /docs
# and /redoc look first, and which `pip install .` packages, so a non-editable install serves
# them too; the Dockerfile does the same in its node stage). `npm ci` runs no install script
# (none of these needs one; swagger-ui-dist's analytics hook stays off) and leaves out peer
# dependencies (redoc's React & co. are inside its standalone bundle).
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
# the files the pages load: the same list as VENDORED in api/routes/map_page.py
files=(maplibre-gl/dist/maplibre-gl.js maplibre-gl/dist/maplibre-gl.css
    maplibre-gl/dist/maplibre-gl.js.map swagger-ui-dist/swagger-ui-bundle.js
    swagger-ui-dist/swagger-ui.css swagger-ui-dist/favicon-32x32.png
    redoc/bundles/redoc.standalone.js)
stale=false
[[ -f node_modules/.package-lock.json && ! package-lock.json -nt node_modules/.package-lock.json ]] || stale=true
for path in "${files[@]}"; do [[ -f node_modules/$path ]] || stale=true; done
if $stale; then
    npm ci --no-audit --no-fund --omit=peer --ignore-scripts
fi
mkdir -p api/static/vendor
printf '# copied by scripts/ensure-npm.sh from node_modules: never committed\n*\n' \
    >api/static/vendor/.gitignore
for path in "${files[@]}"; do
    cp "node_modules/$path" api/static/vendor/
done
