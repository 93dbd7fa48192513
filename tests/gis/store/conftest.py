"""Fixtures for the store tests: tiny hand-built plans and a store of each kind."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from store_plans import PlanFactory, make_plan, make_units

from gis.store import Store, open_store


@pytest.fixture
def plan() -> PlanFactory:
    """Factory of square plans (see :func:`make_plan`)."""
    return make_plan


@pytest.fixture
def units() -> gpd.GeoDataFrame:
    """The community the plans tile."""
    return make_units()


def _open(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "postgis":
        pg = request.getfixturevalue("pg_schema")
        return open_store(pg.url, schema=pg.schema)
    return open_store(tmp_path / "plans.gpkg")


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind: a GeoPackage in tmp_path, or PostGIS in its own schema."""
    opened = _open(request.param, request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which kind of store the parametrised ``store`` fixture opened."""
    return str(request.node.callspec.params["store"])
