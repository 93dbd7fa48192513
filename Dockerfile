# wangge API service: `docker compose up` builds this and runs it against the `db` service.

# 1. The web map's MapLibre GL JS and the API docs' Swagger UI and ReDoc, from npm at the
#    versions package-lock.json pins (no CDN; as scripts/ensure-npm.sh installs them).
FROM node:20-slim AS map-assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=peer --ignore-scripts

# 2. The wheel, with those files in api/static/vendor/ (where /map looks for them first;
#    scripts/ensure-npm.sh puts them there outside Docker).
FROM python:3.11-slim AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gis ./gis
COPY api ./api
COPY --from=map-assets /build/node_modules/maplibre-gl/dist/maplibre-gl.js \
     /build/node_modules/maplibre-gl/dist/maplibre-gl.css \
     /build/node_modules/maplibre-gl/dist/maplibre-gl.js.map \
     /build/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
     /build/node_modules/swagger-ui-dist/swagger-ui.css \
     /build/node_modules/swagger-ui-dist/favicon-32x32.png \
     /build/node_modules/redoc/bundles/redoc.standalone.js \
     ./api/static/vendor/
RUN pip wheel --no-deps --wheel-dir /wheels .

# 3. The service: the wheel with the PostGIS store and the web service extras.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# All geospatial dependencies (shapely, pyproj, pyogrio, pymetis, psycopg[binary]) ship
# manylinux wheels with GEOS/PROJ/GDAL/METIS/libpq bundled, so no apt packages are needed.
COPY --from=wheel /wheels /wheels
RUN pip install "$(echo /wheels/wangge-*.whl)[db,serve]" \
    && rm -rf /wheels \
    && python -c "import importlib.resources as r, sys; \
sys.exit(not r.files('api').joinpath('static/vendor/maplibre-gl.js').is_file())" \
    && wangge --help >/dev/null

RUN useradd --system --uid 10001 --create-home --home-dir /home/wangge wangge \
    && mkdir /data && chown wangge /data
USER wangge
# Without WANGGE_DATABASE_URL the service reads the embedded store /data/wangge-plans.gpkg
# (mount a volume there); docker-compose.yml points it at PostGIS instead.
WORKDIR /data

EXPOSE 8000
CMD ["wangge", "serve", "--host", "0.0.0.0"]
