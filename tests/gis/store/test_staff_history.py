"""The staff registry keeps history in both stores: a change closes rows instead of deleting
them, a read as of a past time sees the roster then, and a failed change changes nothing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gis.store.addresses import Registry, open_registry


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """An empty registry of each kind."""
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        opened = open_registry(pg.url, schema=pg.schema)
    else:
        opened = open_registry(tmp_path / "plans.gpkg")
    try:
        yield opened
    finally:
        opened.close()


def person(name: str, role: str = "worker", phone: str = "13800000001", **more: str) -> dict:
    return {"name": name, "role": role, "phone": phone, "photo_path": None, **more}


def moment() -> datetime:
    """Now, with a little time on either side so that two changes never share an instant."""
    time.sleep(0.02)
    now = datetime.now(UTC)
    time.sleep(0.02)
    return now


def test_a_change_closes_rows_and_a_past_roster_can_be_read(registry: Registry) -> None:
    before = moment()
    registry.set_staff({
        ("grid_code", "A01"): [person("张三"), person("王五", "leader", "13800000003")],
        ("unit_code", "310101002001"): [person("孙书记", "community_secretary", "021-12345678")],
    })  # fmt: skip
    first = moment()
    change = registry.set_staff({
        ("grid_code", "A01"): [person("王五", "leader", "13800000003"),
                               person("李四", duty="full_time")],
        ("cell_code", "A0101"): [person("赵微", "micro_worker", "13800000004")],
    })  # fmt: skip
    assert (change.kept, change.closed, change.added) == (1, 1, 2)
    now = registry.read_staff()
    assert sorted(now["name"]) == ["孙书记", "李四", "王五", "赵微"]
    assert now.loc[now["name"] == "李四", "duty"].tolist() == ["full_time"]
    assert now.loc[now["name"] == "赵微", "cell_code"].tolist() == ["A0101"]
    assert now.loc[now["name"] == "孙书记", "unit_code"].tolist() == ["310101002001"]
    assert now["valid_to"].isna().all()
    then = registry.read_staff(as_of=first)
    assert sorted(then["name"]) == ["孙书记", "张三", "王五"]
    closed = then.loc[then["name"] == "张三"].iloc[0]
    assert before < closed["valid_from"] < first < closed["valid_to"]
    kept = now.loc[now["name"] == "王五"].iloc[0]
    assert kept["valid_from"] < first  # an unchanged person keeps the date they took the post
    assert registry.read_staff(as_of=before).empty
    assert registry.read_staff(as_of=first.replace(tzinfo=None))["name"].tolist() == list(
        then["name"]
    )  # a naive time is UTC
    assert registry.replace_staff("A01", [], serves="grid") == 0
    assert set(registry.read_staff()["name"]) == {"孙书记", "赵微"}
    assert len(registry.read_staff(as_of=first)) == 3  # the history stays


def test_a_failed_change_changes_nothing(registry: Registry) -> None:
    registry.set_staff({("grid_code", "A01"): [person("张三")]})
    before = registry.read_staff()
    with pytest.raises(Exception, match=r"(?i)null|constraint"):
        registry.set_staff({
            ("grid_code", "A01"): [person("李四")],
            ("grid_code", "A02"): [{"name": None, "role": "worker", "phone": "1"}],
        })  # fmt: skip
    assert registry.read_staff().equals(before)


def test_an_embedded_roster_made_before_history_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "plans.registry.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE staff (id INTEGER PRIMARY KEY, grid_code TEXT NOT NULL, name TEXT "
            "NOT NULL, role TEXT NOT NULL, phone TEXT, photo_path TEXT)"
        )
        conn.execute("INSERT INTO staff VALUES (1, 'A01', '张三', 'worker', '13800000001', NULL)")
    conn.close()
    registry = open_registry(tmp_path / "plans.gpkg")
    try:
        old = registry.read_staff(as_of=datetime(2000, 1, 1, tzinfo=UTC))
        assert old["name"].tolist() == ["张三"]  # valid since ever: no date was kept
        registry.replace_staff("A01", [person("李四")])
        assert registry.read_staff()["name"].tolist() == ["李四"]
        assert registry.read_staff(as_of=datetime(2000, 1, 1))["name"].tolist() == ["张三"]
    finally:
        registry.close()
