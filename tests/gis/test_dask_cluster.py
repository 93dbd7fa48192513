"""A real Dask cluster on loopback: ``dask scheduler`` and 2 ``dask worker`` processes.

``wangge partition --scheduler`` draws the serial plan, which ``wangge validate`` passes;
``wangge assign --scheduler`` gives every point the code the service's ``/lookup`` answers;
a worker killed mid-run costs nothing but a retried task. The processes are started with
bounded waits and always stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client
from typer.testing import CliRunner

import gis
from api.main import create_app
from api.server import serve_in_thread
from api.settings import Settings
from gis import columns as col
from gis.cli import app
from gis.serving.lookup import GridIndex

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = REPO / "data" / "shanghai_bund.gpkg"
DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 90


@dataclass
class Cluster:
    """The running cluster: its address, a client of the test's own, the processes."""

    address: str
    client: Client
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def start_worker(self, name: str) -> None:
        """One more worker process (no nanny: killing the process kills the worker)."""
        self.procs[name] = _start(
            [str(DASK), "worker", self.address, "--nthreads", "1", "--no-nanny",
             "--name", name, "--no-dashboard", "--death-timeout", "60"],
            self.logs / f"{name}.log",
        )  # fmt: skip
        self.client.wait_for_workers(len(self.procs) - 1, timeout=START_TIMEOUT_S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Workers first (so none waits for a scheduler that is gone), then the scheduler."""
    order = [n for n in procs if n != "scheduler"] + [n for n in procs if n == "scheduler"]
    for name in order:
        proc = procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("dask-logs")
    address = f"tcp://127.0.0.1:{_free_port()}"
    host_port = address.removeprefix("tcp://").split(":")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    client: Client | None = None
    try:
        procs["scheduler"] = _start(
            [str(DASK), "scheduler", "--host", host_port[0], "--port", host_port[1],
             "--no-dashboard"],
            logs / "scheduler.log",
        )  # fmt: skip
        client = _connect(address, procs["scheduler"], logs)
        found = Cluster(address, client, procs, logs)
        for i in range(2):
            found.start_worker(f"w{i}")
        yield found
    finally:
        if client is not None:
            client.close()
        _stop(procs)


def _connect(address: str, scheduler: subprocess.Popen[bytes], logs: Path) -> Client:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return Client(address, timeout=5, set_as_default=False)
        except OSError:
            if scheduler.poll() is not None or time.monotonic() > deadline:
                log = (logs / "scheduler.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"dask scheduler did not start at {address}:\n{log}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster_plan(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wangge partition --scheduler``: the Shanghai sample planned on the cluster."""
    out = tmp_path_factory.mktemp("cluster-plan") / "plan.gpkg"
    result = CliRunner().invoke(
        app,
        ["partition", str(SHANGHAI), "--seed", "0", "--sites-outside", "drop",
         "--scheduler", cluster.address, "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output  # 1: a plan with reported exceptions
    return out


def test_partition_on_the_cluster_is_the_serial_plan_and_valid(
    cluster_plan: Path, shanghai_plan: gis.Plan
) -> None:
    written = gpd.read_file(cluster_plan, layer="grids")
    serial = shanghai_plan.grids.to_crs(written.crs)
    for c in (col.GRID_ID, col.GRID_CODE, col.KIND, col.HOUSEHOLDS, col.PARENT_CODE):
        assert written[c].tolist() == serial[c].tolist(), c
    same = shapely.equals_exact(written.geometry.to_numpy(), serial.geometry.to_numpy(), 1e-9)
    assert same.all()
    result = CliRunner().invoke(app, ["validate", str(cluster_plan), "--against", str(SHANGHAI)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.fixture(scope="module")
def store(cluster_plan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cluster's plan published into an embedded store."""
    path = tmp_path_factory.mktemp("cluster-store") / "plans.gpkg"
    result = CliRunner().invoke(
        app, ["publish", str(cluster_plan), "--store", str(path), "--author", "tests"]
    )
    assert result.exit_code == 0, result.output
    return path


def points_near(grids: gpd.GeoDataFrame, n: int, seed: int) -> pd.DataFrame:
    """Random points around the grids (some outside) and grid vertices (on shared edges)."""
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(seed)
    corners = shapely.get_coordinates(shapely.boundary(grids.geometry.to_numpy()))
    corners = corners[rng.choice(len(corners), size=min(n // 3, len(corners)), replace=False)]
    lon = np.concatenate([rng.uniform(x0 - 0.001, x1 + 0.001, n - len(corners)), corners[:, 0]])
    lat = np.concatenate([rng.uniform(y0 - 0.001, y1 + 0.001, n - len(corners)), corners[:, 1]])
    return pd.DataFrame({"id": np.arange(n), "lon": lon, "lat": lat})


def test_assign_on_the_cluster_gives_what_lookup_answers(
    cluster: Cluster, store: Path, tmp_path: Path
) -> None:
    with gis.open_store(store) as opened:
        grids = opened.read_grids()
    points = points_near(grids, 900, seed=1)
    src = tmp_path / "points.parquet"
    points.to_parquet(src, row_group_size=100)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["assign", str(src), "--store", str(store), "--out", str(out),
         "--scheduler", cluster.address, "--part-rows", "100"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    assert got["id"].tolist() == points["id"].tolist()
    server = serve_in_thread(create_app(Settings(store_path=store, poll_interval_s=60)))
    try:
        answers = _lookup_all(server.url, points)
    finally:
        server.stop()
    assigned = [None if pd.isna(c) else str(c) for c in got[col.GRID_CODE]]
    assert assigned == answers
    assert 0 < sum(a is None for a in answers) < len(answers) // 2


def _lookup_all(url: str, points: pd.DataFrame) -> list[str | None]:
    import httpx  # noqa: PLC0415 - test dependency

    answers: list[str | None] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for lon, lat in zip(points["lon"], points["lat"], strict=True):
            r = http.get("/lookup", params={"lon": repr(float(lon)), "lat": repr(float(lat))})
            assert r.status_code in (200, 404), r.text
            answers.append(r.json()["grid"]["grid_code"] if r.status_code == 200 else None)
    return answers


def test_a_worker_killed_mid_run_only_costs_a_retried_task(
    cluster: Cluster, store: Path, tmp_path: Path
) -> None:
    with gis.open_store(store) as opened:
        grids = opened.read_grids()
    points = points_near(grids, 240_000, seed=2)
    src = tmp_path / "points.parquet"
    points.to_parquet(src, row_group_size=6_000)
    cluster.start_worker("doomed")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = gis.assign_points(
                src, store=store, out=tmp_path / "out", client=cluster.client, rows_per_part=6000
            )
        except Exception as exc:  # handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    killed_busy = _kill_when_busy(cluster, "doomed")
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert killed_busy, "the doomed worker was killed while running a task"
    got = pd.read_parquet(tmp_path / "out")
    index = GridIndex(grids)
    expected = [index.code(int(w)) for w in index.locate(points["lon"], points["lat"])]
    assert outcome["result"].rows == len(points)
    assert [None if pd.isna(c) else str(c) for c in got[col.GRID_CODE]] == expected


def _kill_when_busy(cluster: Cluster, name: str) -> bool:
    """SIGKILL the worker ``name`` as soon as it runs a task; whether it was running one."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = cluster.client.scheduler_info()["workers"]
        address = next((a for a, w in workers.items() if w.get("name") == name), None)
        if address is not None and cluster.client.processing([address]).get(address):
            os.kill(cluster.procs[name].pid, signal.SIGKILL)
            cluster.procs[name].wait(timeout=10)
            return True
        time.sleep(0.005)
    return False
