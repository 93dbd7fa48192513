# wangge API service: `docker compose up` builds this and runs it against the `db` service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# All geospatial dependencies (shapely, pyproj, pyogrio, psycopg[binary]) ship manylinux
# wheels with GEOS/PROJ/GDAL/libpq bundled, so no apt packages are needed.
COPY pyproject.toml README.md ./
COPY gis ./gis
COPY api ./api
RUN pip install '.[db,api]'

RUN useradd --system --uid 10001 --home-dir /app wangge
USER wangge

EXPOSE 8000
CMD ["wangge", "serve", "--host", "0.0.0.0"]
