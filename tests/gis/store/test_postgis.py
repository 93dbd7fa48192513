"""PostGIS-only guarantees: migrations, models, and constraints enforced by the database."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from store_plans import PlanFactory

from gis.store import open_store
from gis.store.migrate import alembic_config
from gis.store.models import Base
from gis.store.postgis import PostgisStore

pytestmark = pytest.mark.postgis


@pytest.fixture
def pg_store(pg_schema) -> PostgisStore:
    """A migrated PostGIS store in this test's own schema."""
    store = open_store(pg_schema.url, schema=pg_schema.schema)
    assert isinstance(store, PostgisStore)
    yield store
    store.close()


def test_migrations_match_models_and_are_idempotent(pg_store: PostgisStore) -> None:
    again = open_store(pg_store.url, schema=pg_store.schema)  # upgrade at head: no-op
    again.close()
    engine = sa.create_engine(
        pg_store.url.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": f"-c search_path={pg_store.schema},public"},
    )
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names(schema=pg_store.schema))
        assert {"alembic_version", *Base.metadata.tables} <= tables
        for name, table in Base.metadata.tables.items():
            have = {c["name"] for c in inspector.get_columns(name, schema=pg_store.schema)}
            assert have == {c.name for c in table.columns}, name
        indexes = {
            i["name"]
            for name in ("grids", "cells", "units", "addresses")
            for i in inspector.get_indexes(name, schema=pg_store.schema)
        }
        assert {"grids_geom_gist", "cells_geom_gist", "units_geom_gist"} <= indexes
        scripts = ScriptDirectory.from_config(alembic_config())
        head = scripts.get_current_head()  # raises when the chain has two heads
        revisions = sorted(r.revision for r in scripts.walk_revisions())
        assert head == revisions[-1]  # one linear chain, numbered in order
        assert revisions[:4] == ["0001", "0002", "0003", "0004"]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()


def test_database_keeps_one_live_row_per_code(pg_store: PostgisStore, plan: PlanFactory) -> None:
    pg_store.publish(plan(3), author="a")
    with pg_store.connect() as conn:
        row = conn.execute(
            "INSERT INTO plan_versions (created_at, author, valid_during) VALUES "
            "('2000-01-01', 'x', tstzrange('2000-01-01', '2000-01-02')) RETURNING id"
        ).fetchone()
    assert row is not None
    with pg_store.connect() as conn, pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute(
            "INSERT INTO grids (version_id, grid_code, kind, households, parent_code, "
            "area_m2, geom, valid_during) SELECT %s, grid_code, kind, households, parent_code, "
            "area_m2, geom, tstzrange(now(), NULL) FROM grids WHERE grid_code = 'A00'",
            row,
        )
    with pg_store.connect() as conn, pytest.raises(psycopg.errors.ExclusionViolation):
        conn.execute(
            "INSERT INTO plan_versions (created_at, author, valid_during) "
            "VALUES (now(), 'x', tstzrange(now(), NULL))"
        )


def test_touching_grids_are_not_an_exclusion_conflict(
    pg_store: PostgisStore, plan: PlanFactory
) -> None:
    """Neighbours share edges: stored side by side, all nine live at once."""
    pg_store.publish(plan(3), author="a")
    with pg_store.connect() as conn:
        live = conn.execute("SELECT count(*) FROM grids WHERE upper_inf(valid_during)").fetchone()
        touching = conn.execute(
            "SELECT count(*) FROM grids a JOIN grids b ON a.grid_code < b.grid_code "
            "AND ST_Touches(a.geom, b.geom)"
        ).fetchone()
    assert live == (9,)
    assert touching is not None
    assert touching[0] >= 12


def test_as_of_is_answered_by_the_valid_time_ranges(
    pg_store: PostgisStore, plan: PlanFactory
) -> None:
    infos = [pg_store.publish(plan(3, prefix=p), author="a") for p in "ABC"]
    with pg_store.connect() as conn:
        for info, prefix in zip(infos, "ABC", strict=True):
            codes = conn.execute(
                "SELECT DISTINCT left(grid_code, 1) FROM grids WHERE valid_during @> %s",
                (info.valid_from,),
            ).fetchall()
            assert codes == [(prefix,)]
