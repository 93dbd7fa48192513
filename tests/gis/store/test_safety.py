"""Atomicity and safety: killed publishes, concurrent publishes (both stores), and the
temporary folders a killed GeoPackage publish leaves (removed on the next open, never while a
publish is running). Each test says what it did in the "fault injection" summary."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
from store_plans import PlanFactory

from gis import columns as col
from gis.store import Store, open_store
from gis.store.geopackage import GeoPackageStore

HERE = Path(__file__).parent

PUBLISHER = """
import os, sys, time
sys.path.insert(0, {here!r})
from store_plans import make_plan
from gis.store import open_store

store = open_store({target!r}, schema={schema!r}, migrate=False)

def pause(stage):
    if stage == {stage!r}:
        print("paused", flush=True)
        deadline = time.monotonic() + 120
        while not os.path.exists({go!r}) and time.monotonic() < deadline:
            time.sleep(0.05)

store._checkpoint = pause
store.publish(make_plan(2, prefix="K"), author="killed")
print("committed", flush=True)
"""


def start_publisher(store: Store, stage: str, go: Path) -> subprocess.Popen[str]:
    """A publisher in another process that stops at ``stage`` (inside its write window) and
    goes on once the file ``go`` exists; returns once it has stopped there."""
    target, schema = _target(store)
    script = PUBLISHER.format(here=str(HERE), target=target, schema=schema, stage=stage, go=str(go))
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[2])},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "paused":
        proc.kill()
        raise AssertionError(proc.stderr.read() if proc.stderr else line)
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as the OOM killer or a power cut would."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _target(store: Store) -> tuple[str, str]:
    if hasattr(store, "schema"):
        return store.url, store.schema  # type: ignore[attr-defined]
    return str(store.path), "public"  # type: ignore[attr-defined]


def _live(store: Store) -> tuple[int, set[str], set[int]]:
    grids = store.read_grids()
    return store.version().id, set(grids[col.GRID_CODE]), set(grids["version_id"])


@pytest.mark.parametrize("stage", ["switched", "written"])
def test_killed_publish_leaves_previous_version_live(
    store: Store,
    plan: PlanFactory,
    stage: str,
    store_kind: str,
    tmp_path: Path,
    fault_log: Callable[[str], None],
) -> None:
    first = store.publish(plan(3), author="a")
    proc = start_publisher(store, stage, tmp_path / "never")
    try:
        # Mid-publish, readers still see the first version, whole.
        nine = {f"A{r}{c}" for r in range(3) for c in range(3)}
        assert _live(store) == (first.id, nine, {1})
    finally:
        kill(proc)
    assert proc.returncode == -signal.SIGKILL
    assert [v.id for v in store.versions()] == [first.id]
    assert store.version().live
    assert _live(store)[0] == first.id
    assert len(store.read_grids()) == 9
    litter = store.stale_folders() if isinstance(store, GeoPackageStore) else []
    # Nothing half-written blocks the next publisher (the lock died with the process).
    after = _publish_with_deadline(store, plan(2, prefix="B"))
    assert after.live
    assert _live(store)[1:] == ({"B00", "B01", "B10", "B11"}, {after.id})
    assert store.versions()[0].valid_to == after.valid_from
    if isinstance(store, GeoPackageStore):  # the killed publish's folder goes on the next open
        assert len(litter) == 1
        assert (litter[0] / store.path.name).is_file()
        reopened = open_store(store.path)
        assert isinstance(reopened, GeoPackageStore)
        assert reopened.stale_folders() == []
        assert not litter[0].exists()
    fault_log(
        f"{store_kind}: publisher SIGKILLed at stage {stage!r} (pid {proc.pid}); versions stayed "
        f"[{first.id}], next publish made {after.id}; stale folders left {len(litter)}, "
        "removed on reopen"
    )


def test_stale_folders_of_killed_publishes_are_cleaned_on_open_never_while_one_runs(
    tmp_path: Path, plan: PlanFactory, fault_log: Callable[[str], None]
) -> None:
    path = tmp_path / "plans.gpkg"
    with open_store(path) as store:
        store.publish(plan(3), author="a")
    assert isinstance(store, GeoPackageStore)
    left = []
    for _ in range(3):  # publishes killed inside their write window, one after the other
        kill(start_publisher(store, "switched", tmp_path / "never"))
        left.append(store.stale_folders())
    # each killed publish leaves its copy; the next one's open removes it: they never pile up
    assert [len(f) for f in left] == [1, 1, 1]
    assert len({f[0] for f in left}) == 3
    other = tmp_path / f".{path.stem}.othercmd"  # a folder of another command: never touched
    other.mkdir()
    (other / "plan.json").write_text("{}")
    running = start_publisher(store, "switched", tmp_path / "go")
    try:
        (live,) = store.stale_folders()  # the running publish's own folder, and its copy
        stale = tmp_path / f".{path.stem}.deadbeef"  # as a publish killed earlier leaves it
        stale.mkdir()
        (stale / path.name).write_bytes(path.read_bytes())
        opened = open_store(path)  # a publish holds the lock: nothing may be removed
        assert isinstance(opened, GeoPackageStore)
        assert set(opened.stale_folders()) == {live, stale}
        (tmp_path / "go").touch()  # the running publish goes on, undisturbed
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            kill(running)
    assert running.returncode == 0, err
    assert "committed" in out
    assert [v.id for v in opened.versions()] == [1, 2]
    cleaned = open_store(path)
    assert isinstance(cleaned, GeoPackageStore)
    assert cleaned.stale_folders() == []
    assert not stale.exists()
    assert other.is_dir()
    assert [v.id for v in cleaned.versions()] == [1, 2]
    fault_log(
        "geopackage: 3 publishers SIGKILLed in the write window, one after another: 1 folder "
        "left each time (the next open removed the last); an open while a 4th publish ran "
        "removed nothing; it committed version 2; the next open removed the stale folder"
    )


def _publish_with_deadline(store: Store, grids: gpd.GeoDataFrame, seconds: float = 20):
    result: list = []
    thread = threading.Thread(target=lambda: result.append(store.publish(grids, author="b")))
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "publish still blocked after the killed publisher died"
    return result[0]


def test_concurrent_publishes_are_serialised(
    store: Store,
    plan: PlanFactory,
    store_kind: str,
    request: pytest.FixtureRequest,
    fault_log: Callable[[str], None],
) -> None:
    store.publish(plan(3), author="base")
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
    fault_log(
        f"{store_kind}: two publishes at once (the first holding the lock 0.5 s): versions "
        f"{[v.id for v in versions]}, back to back, none lost"
    )
