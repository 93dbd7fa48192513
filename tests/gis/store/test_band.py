"""Each published version keeps the household band its plan was drawn for, on both stores,
and stores made before bands were kept upgrade without losing a version."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from store_plans import PlanFactory

from gis.errors import InputTypeError
from gis.options import Band
from gis.outputs.files import write_layers
from gis.outputs.plan_file import plan_info_frame
from gis.store import Store, open_store
from gis.store.gpkg_tables import BAND_COLUMNS
from gis.store.migrate import alembic_config, upgrade


def test_each_version_keeps_its_own_band(store: Store, plan: PlanFactory) -> None:
    first = store.publish(plan(3), author="a", band=Band(300, 800, target=500))
    second = store.publish(plan(3, prefix="B"), author="a")  # no band given
    third = store.publish(plan(2, prefix="C"), author="a", band=Band(120, 160))
    assert first.band == Band(300, 800, target=500)
    assert second.band == Band()  # read as the default band
    assert third.band == Band(120, 160, target=140)  # target: the middle when 500 is outside
    assert [v.band for v in store.versions()] == [first.band, second.band, third.band]
    assert store.version(1).band == first.band
    assert store.version(as_of=third.valid_from).band == third.band
    assert third.to_dict()["band"] == {"min_households": 120, "max_households": 160, "target": 140}


def test_a_band_that_is_not_a_band_is_refused_before_writing(
    store: Store, plan: PlanFactory
) -> None:
    with pytest.raises(InputTypeError, match=r"band must be a gis\.Band"):
        store.publish(plan(3), author="a", band={"min_households": 300})  # type: ignore[arg-type]
    assert store.versions() == []


def _make_old_file(path: Path, plan: PlanFactory) -> None:
    """A store as written before bands were kept: ``plan_versions`` without band columns."""
    with open_store(path) as store:
        store.publish(plan(3), author="old")
        store.publish(plan(3, prefix="B"), author="old")
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for name in BAND_COLUMNS:
            conn.execute(f"ALTER TABLE plan_versions DROP COLUMN {name}")


def _version_columns(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[1] for row in conn.execute("PRAGMA table_info(plan_versions)")}


def test_geopackage_written_before_bands_reads_and_upgrades(
    tmp_path: Path, plan: PlanFactory
) -> None:
    path = tmp_path / "old.gpkg"
    _make_old_file(path, plan)
    assert not set(BAND_COLUMNS) & _version_columns(path)
    with open_store(path) as store:
        old = store.versions()
        assert [v.band for v in old] == [Band(), Band()]
        assert not set(BAND_COLUMNS) & _version_columns(path)  # reading changes nothing
        new = store.publish(plan(2, prefix="C"), author="new", band=Band(100, 200, target=150))
        assert set(BAND_COLUMNS) <= _version_columns(path)  # the publish added them
        after = store.versions()
    assert [v.id for v in after] == [1, 2, 3]
    assert [v.band for v in after] == [Band(), Band(), Band(100, 200, target=150)]
    assert new.band == after[-1].band
    assert [(v.author, v.valid_from) for v in after[:2]] == [(v.author, v.valid_from) for v in old]
    assert len(store.read_grids(1)) == 9


def _publish_like_0001(url: str, schema: str, plan: PlanFactory) -> None:
    """One version written with the revision-0001 schema (no band columns)."""
    grids = plan(3).to_crs(4326)
    with psycopg.connect(url, options=f"-c search_path={schema},public") as conn:
        row = conn.execute(
            "INSERT INTO plan_versions (created_at, author, note, valid_during) "
            "VALUES (now(), 'old', 'before bands', tstzrange(now(), NULL)) RETURNING id"
        ).fetchone()
        assert row is not None
        for g in grids.itertuples():
            conn.execute(
                "INSERT INTO grids (version_id, grid_code, kind, households, parent_code, "
                "area_m2, geom, valid_during) VALUES (%s, %s, %s, %s, %s, 10000, "
                "ST_GeomFromText(%s, 4326), tstzrange(now(), NULL))",
                (row[0], g.grid_code, g.kind, g.households, g.parent_code, g.geometry.wkt),
            )


@pytest.mark.postgis
def test_migration_upgrades_a_store_made_by_the_old_schema(pg_schema, plan: PlanFactory) -> None:
    upgrade(pg_schema.url, schema=pg_schema.schema, revision="0001")
    _publish_like_0001(pg_schema.url, pg_schema.schema, plan)
    with open_store(pg_schema.url, schema=pg_schema.schema) as store:  # migrates to head
        old = store.versions()
        assert [(v.id, v.author, v.grids, v.band) for v in old] == [(1, "old", 9, Band())]
        new = store.publish(plan(2, prefix="C"), author="new", band=Band(100, 200))
        assert new.band == Band(100, 200, target=150)
        assert [v.band for v in store.versions()] == [Band(), new.band]
        assert len(store.read_grids(1)) == 9
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    options = f"-c search_path={pg_schema.schema},public"
    with psycopg.connect(pg_schema.url, options=options, autocommit=True) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        with pytest.raises(psycopg.errors.CheckViolation):  # all three or none
            conn.execute("UPDATE plan_versions SET band_min = 10 WHERE id = 1")
        with pytest.raises(psycopg.errors.CheckViolation):  # a valid band only
            conn.execute(
                "UPDATE plan_versions SET band_min = 500, band_max = 400, band_target = 450 "
                "WHERE id = 1"
            )


def test_publish_command_keeps_the_band_of_the_plan_file(plan: PlanFactory, tmp_path: Path) -> None:
    from test_plan_io import _app  # noqa: PLC0415
    from typer.testing import CliRunner  # noqa: PLC0415

    db = str(tmp_path / "plans.gpkg")
    drawn, bare = tmp_path / "drawn.gpkg", tmp_path / "bare.gpkg"
    band = Band(120, 400, target=200)
    write_layers(drawn, {"grids": plan(3), "plan": plan_info_frame(band, code_scheme="test")})
    plan(2, prefix="B").to_file(bare, layer="grids")  # an older plan file: no 'plan' table
    runner = CliRunner()
    app = _app()
    first = runner.invoke(app, ["publish", str(drawn), "--author", "t", "--store", db])
    assert first.exit_code == 0, first.output
    assert "band 120–400" in first.output
    second = runner.invoke(app, ["publish", str(bare), "--author", "t", "--store", db])
    assert second.exit_code == 0, second.output
    assert "no 'plan' table" in second.output
    listed = runner.invoke(app, ["versions", "--store", db, "--json"])
    assert listed.exit_code == 0, listed.output
    bands = [v["band"] for v in json.loads(listed.output)]
    assert bands == [band.to_dict(), Band().to_dict()]
    table = runner.invoke(app, ["versions", "--store", db])
    assert "120–400" in table.output
