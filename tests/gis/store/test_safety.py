"""Atomicity and safety: killed publishes, concurrent publishes (both stores)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pytest
from store_plans import PlanFactory

from gis import columns as col
from gis.store import Store

HERE = Path(__file__).parent

PUBLISHER = """
import sys, time
sys.path.insert(0, {here!r})
from store_plans import make_plan
from gis.store import open_store

store = open_store({target!r}, schema={schema!r}, migrate=False)

def pause(stage):
    if stage == {stage!r}:
        print("paused", flush=True)
        time.sleep(120)

store._checkpoint = pause
store.publish(make_plan(2, prefix="K"), author="killed")
print("committed", flush=True)
"""


def _target(store: Store) -> tuple[str, str]:
    if hasattr(store, "schema"):
        return store.url, store.schema  # type: ignore[attr-defined]
    return str(store.path), "public"  # type: ignore[attr-defined]


def _live(store: Store) -> tuple[int, set[str], set[int]]:
    grids = store.read_grids()
    return store.version().id, set(grids[col.GRID_CODE]), set(grids["version_id"])


@pytest.mark.parametrize("stage", ["switched", "written"])
def test_killed_publish_leaves_previous_version_live(
    store: Store, plan: PlanFactory, stage: str
) -> None:
    first = store.publish(plan(3), author="a")
    target, schema = _target(store)
    script = PUBLISHER.format(here=str(HERE), target=target, schema=schema, stage=stage)
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[2])},
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "paused", proc.stderr.read() if proc.stderr else ""
            # Mid-publish, readers still see the first version, whole.
            nine = {f"A{r}{c}" for r in range(3) for c in range(3)}
            assert _live(store) == (first.id, nine, {1})
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert [v.id for v in store.versions()] == [first.id]
    assert store.version().live
    assert _live(store)[0] == first.id
    assert len(store.read_grids()) == 9
    # Nothing half-written blocks the next publisher (the lock died with the process).
    after = _publish_with_deadline(store, plan(2, prefix="B"))
    assert after.live
    assert _live(store)[1:] == ({"B00", "B01", "B10", "B11"}, {after.id})
    assert store.versions()[0].valid_to == after.valid_from


def _publish_with_deadline(store: Store, grids: gpd.GeoDataFrame, seconds: float = 20):
    result: list = []
    thread = threading.Thread(target=lambda: result.append(store.publish(grids, author="b")))
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "publish still blocked after the killed publisher died"
    return result[0]


def test_concurrent_publishes_are_serialised(
    store: Store, plan: PlanFactory, store_kind: str, request: pytest.FixtureRequest
) -> None:
    store.publish(plan(3), author="base")
    from gis.store import open_store  # noqa: PLC0415

    target, schema = _target(store)
    first, second = (open_store(target, schema=schema, migrate=False) for _ in range(2))
    holding = threading.Event()

    def slow(stage: str) -> None:
        if stage == "validated":
            holding.set()
            time.sleep(0.5)  # hold the lock while the second publisher arrives

    first._checkpoint = slow  # type: ignore[method-assign]
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(name: str, opened: Store, grids: gpd.GeoDataFrame) -> None:
        try:
            results[name] = opened.publish(grids, author=name).id
        except BaseException as exc:
            errors.append(exc)

    t1 = threading.Thread(target=run, args=("first", first, plan(2, prefix="F")))
    t2 = threading.Thread(target=run, args=("second", second, plan(3, prefix="S")))
    t1.start()
    assert holding.wait(10)
    t2.start()
    t1.join(30)
    t2.join(30)
    first.close()
    second.close()
    assert not errors, errors
    assert results["first"] < results["second"]
    versions = store.versions()
    assert [v.id for v in versions] == [1, results["first"], results["second"]]
    assert [v.grids for v in versions] == [9, 4, 9]
    for older, newer in itertools.pairwise(versions):
        assert older.valid_to == newer.valid_from
    live = store.read_grids()
    assert set(live["version_id"]) == {results["second"]}
    assert set(live[col.GRID_CODE].str[0]) == {"S"}
    for v, prefix in zip(versions, "AFS", strict=True):
        assert set(store.read_grids(v.id)[col.GRID_CODE].str[0]) == {prefix}
