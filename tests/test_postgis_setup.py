"""The PostGIS test database works: what scripts/test-setup.sh promises, checked for real."""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from shapely import Polygon, box

pytestmark = pytest.mark.postgis

CRS = "EPSG:32651"  # UTM 51N: Shanghai, metres
X0, Y0 = 354_000.0, 3_456_000.0  # near the Bund


@pytest.fixture
def engine(pg_schema: tuple[str, str]) -> Iterator[sa.Engine]:
    """SQLAlchemy engine (psycopg 3 driver) on the test database."""
    url = sa.make_url(pg_schema[0]).set(drivername="postgresql+psycopg")
    eng = sa.create_engine(url)
    try:
        yield eng
    finally:
        eng.dispose()


def squares() -> gpd.GeoDataFrame:
    """Three disjoint squares of 10 m, 20 m and 30 m sides: 1,400 m² in all."""
    sides = [10.0, 20.0, 30.0]
    geoms = [box(X0 + 100 * i, Y0, X0 + 100 * i + side, Y0 + side) for i, side in enumerate(sides)]
    return gpd.GeoDataFrame({"block_id": [1, 2, 3], "side_m": sides}, geometry=geoms, crs=CRS)


def test_geodataframe_round_trip(pg_schema: tuple[str, str], engine: sa.Engine) -> None:
    _, schema = pg_schema
    blocks = squares()
    blocks.to_postgis("blocks", engine, schema=schema, index=False)

    table = f'"{schema}".blocks'
    back = gpd.read_postgis(f"SELECT * FROM {table} ORDER BY block_id", engine, geom_col="geometry")
    assert back.crs == blocks.crs
    assert back["block_id"].tolist() == [1, 2, 3]
    assert back.geometry.geom_equals(blocks.geometry).all()
    assert back.area.sum() == pytest.approx(1_400.0)

    with engine.connect() as conn:
        srid = conn.execute(sa.text(f"SELECT DISTINCT ST_SRID(geometry) FROM {table}")).scalar()
        area_m2 = conn.execute(sa.text(f"SELECT sum(ST_Area(geometry)) FROM {table}")).scalar()
    assert srid == 32651
    assert area_m2 == pytest.approx(1_400.0)


def test_gist_index_answers_bbox_query(pg_schema: tuple[str, str], engine: sa.Engine) -> None:
    _, schema = pg_schema
    squares().to_postgis("blocks", engine, schema=schema, index=False)
    table = f'"{schema}".blocks'
    # A window around the second square only.
    window = f"ST_MakeEnvelope({X0 + 95}, {Y0 - 5}, {X0 + 125}, {Y0 + 25}, 32651)"
    query = f"SELECT block_id FROM {table} WHERE geometry && {window} ORDER BY block_id"

    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE INDEX blocks_geom_gist ON {table} USING gist (geometry)"))
        conn.execute(sa.text(f"ANALYZE {table}"))
        methods = conn.execute(
            sa.text(
                "SELECT am.amname FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
                " WHERE i.indrelid = CAST(:table AS regclass)"
            ),
            {"table": table},
        ).scalars()
        assert "gist" in set(methods)

        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {query}")).scalars())
        found = conn.execute(sa.text(query)).scalars().all()
    assert "Index Scan" in plan or "Bitmap Index Scan" in plan, plan
    assert found == [2]


def test_btree_gist_exclusion_constraint(pg_schema: tuple[str, str]) -> None:
    """btree_gist lets one constraint forbid overlapping grids within the same version."""
    url, schema = pg_schema
    name = sql.Identifier(schema, "grids")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (version_id int, geom geometry(Polygon, 32651),"
                " EXCLUDE USING gist (version_id WITH =, geom WITH &&))"
            ).format(name)
        )
        insert = sql.SQL("INSERT INTO {} VALUES (%s, ST_GeomFromText(%s, 32651))").format(name)
        conn.execute(insert, (1, box(0, 0, 10, 10).wkt))
        conn.execute(insert, (2, box(5, 5, 15, 15).wkt))  # another version may overlap
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute(insert, (1, box(5, 5, 15, 15).wkt))


@pytest.mark.parametrize(
    ("other", "interiors_meet"),
    [
        pytest.param(box(10, 0, 20, 10), False, id="touching"),
        pytest.param(box(5, 0, 15, 10), True, id="overlapping"),
        pytest.param(box(30, 0, 40, 10), False, id="apart"),
    ],
)
def test_st_relate_interior_overlap(postgis_url: str, other: Polygon, interiors_meet: bool) -> None:
    """'2********' is true only when the interiors share an area, as grids must never do."""
    square = box(0, 0, 10, 10)
    with psycopg.connect(postgis_url) as conn:
        row = conn.execute(
            "SELECT ST_Relate(ST_GeomFromText(%s, 32651), ST_GeomFromText(%s, 32651), '2********')",
            (square.wkt, other.wkt),
        ).fetchone()
    assert row is not None
    assert row[0] is interiors_meet
