"""Fixtures for the command-line safety tests: the real ``wangge`` executable in a child
process, the Nantong sample partitioned once, and a store holding one version of it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_helpers import wangge

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "data" / "nantong.gpkg"


@pytest.fixture(scope="session")
def nantong_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wangge partition data/nantong.gpkg --min 100`` (a plan that passes), once."""
    out = tmp_path_factory.mktemp("nantong") / "plan.gpkg"
    done = wangge("partition", SAMPLE, "--out", out, "--min", "100", "--seed", "1")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def published_store(nantong_plan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GeoPackage store holding the Nantong plan as version 1."""
    store = tmp_path_factory.mktemp("store") / "st.gpkg"
    done = wangge("publish", nantong_plan, "--store", store, "--author", "tests")
    assert done.returncode == 0, done.stderr
    return store


@pytest.fixture
def work(tmp_path: Path, nantong_plan: Path, published_store: Path) -> Path:
    """A folder holding copies of the sample (``in.gpkg``), the plan (``plan.gpkg``, with its
    ``plan.json``) and the store (``st.gpkg``)."""
    shutil.copy(SAMPLE, tmp_path / "in.gpkg")
    shutil.copy(nantong_plan, tmp_path / "plan.gpkg")
    shutil.copy(nantong_plan.with_suffix(".json"), tmp_path / "plan.json")
    shutil.copy(published_store, tmp_path / "st.gpkg")
    return tmp_path
