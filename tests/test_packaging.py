"""A plain ``pip install .`` gives a working ``wangge``; the ``serve`` extra serves ``/map``.

The wheel is built once (``pip wheel .``, as ``pip install .`` does) from a copy of this
checkout, which keeps setuptools' ``build/`` and ``*.egg-info`` out of the shared work tree and
a stale ``build/lib`` out of the wheel, and installed into a fresh venv through pip's own
configuration (its indexes and cache).

1. The plain install: ``wangge partition`` on the Shanghai sample, ``validate``, ``publish`` to
   the embedded GeoPackage store and ``export``; no module of the ``db`` or ``serve`` extras is
   installed, and the commands that need one say which extra to install (exit code 2).
2. The same venv plus the ``serve`` extra: ``wangge serve`` starts and ``/map`` loads in
   headless Chromium with MapLibre's files from the wheel (``api/static/vendor``, put there by
   ``scripts/ensure-npm.sh``), no failed request, and a map canvas.

Run alone with ``pytest -m packaging``. Takes 3 to 4 minutes on 2 cores (a wheel, two pip
installs, one partition).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "shanghai_bund.gpkg"
VENDOR = REPO / "api" / "static" / "vendor"
ARTIFACTS = REPO / "test-artifacts"
MAPLIBRE = ("maplibre-gl.js", "maplibre-gl.css")
# Not part of what `pip install .` builds from (the same list as .dockerignore, less
# api/static/vendor, which the wheel must carry).
NOT_BUILT_FROM = (
    ".git", ".venv", "node_modules", "out", "data", "notebooks", "bench", "tests", "build",
    "test-artifacts", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache",
)  # fmt: skip
# Top-level modules of the db and serve extras: none may come with the plain install.
EXTRA_MODULES = (
    "psycopg", "sqlalchemy", "geoalchemy2", "alembic",
    "fastapi", "starlette", "uvicorn", "pydantic_settings", "mapbox_vector_tile",
)  # fmt: skip
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip


@dataclass
class Venv:
    """A fresh virtual environment with wangge installed from a copy of the checkout."""

    path: Path
    source: Path
    wheel: Path | None = None
    extras: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The environment of the commands: this venv first, nothing of the checkout's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANGGE_", "PYTHON"))}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return env

    def pip(self, label: str, *args: str | Path) -> None:
        """Run this venv's pip (its configured indexes and cache), timed as ``label``."""
        started = time.monotonic()
        done = subprocess.run(
            [self.path / "bin" / "python", "-m", "pip", *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        self.seconds[label] = time.monotonic() - started
        assert done.returncode == 0, f"{label} failed:\n{done.stdout}\n{done.stderr}"

    def build(self) -> None:
        """Build the wheel of the copied checkout once, for both installs."""
        dist = self.path.parent / "dist"
        self.pip(
            "pip wheel .", "wheel", "--no-deps", "--progress-bar", "off", "-w", dist, self.source
        )
        (self.wheel,) = dist.glob("wangge-*.whl")

    def install(self, extra: str | None = None) -> None:
        """``pip install wangge.whl`` or ``pip install 'wangge.whl[extra]'``, timed."""
        target = f"{self.wheel}[{extra}]" if extra else str(self.wheel)
        label = f"pip install wangge[{extra}]" if extra else "pip install wangge"
        self.pip(label, "install", "--no-compile", "--progress-bar", "off", target)
        if extra:
            self.extras.append(extra)

    def wangge(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run the venv's ``wangge`` console script, timed."""
        started = time.monotonic()
        done = subprocess.run(
            [self.path / "bin" / "wangge", *map(str, args)],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.seconds[f"wangge {args[0]}"] = time.monotonic() - started
        return done


def _copy_checkout(target: Path) -> Path:
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*NOT_BUILT_FROM), symlinks=True)
    return target


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv holding the plain ``pip install .`` (no extras)."""
    root = tmp_path_factory.mktemp("packaging")
    source = _copy_checkout(root / "src")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True, timeout=300)
    made = Venv(root / "venv", source, seconds={"venv": time.monotonic() - started})
    made.build()
    made.install()
    yield made
    timings = json.dumps({k: round(v, 1) for k, v in made.seconds.items()}, indent=1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "packaging-seconds.json").write_text(timings + "\n", "utf-8")
    print("packaging timings (s):", timings)


@dataclass
class Published:
    """The sample's plan, partitioned and published by the plain install."""

    work: Path
    plan: Path
    store: Path


@pytest.fixture(scope="module")
def published(venv: Venv) -> Published:
    """Partition the Shanghai sample and publish it to an embedded store, with the plain venv."""
    assert not venv.extras, "the plain install must be tested before any extra is added"
    work = venv.path.parent / "work"
    work.mkdir()
    plan = work / "plan.gpkg"
    done = venv.wangge(
        "partition", SAMPLE, "--out", plan, "--seed", "1", "--code-scheme", "stats12", cwd=work
    )
    report = json.loads(plan.with_suffix(".json").read_text("utf-8")) if plan.exists() else {}
    # exit 1 means "covered, but some grids are outside the band", and then the report says so
    allowed = {0, 1} if report.get("exceptions") else {0}
    assert done.returncode in allowed, f"partition: {done.returncode}\n{done.stdout}{done.stderr}"
    assert plan.stat().st_size > 0
    store = work / "plans.gpkg"
    done = venv.wangge(
        "publish",
        plan,
        "--store",
        store,
        "--units",
        SAMPLE,
        "--units-layer",
        "boundary",
        "--author",
        "ci",
        "--note",
        "packaging test",
        cwd=work,
    )
    assert done.returncode == 0, f"publish: {done.stdout}{done.stderr}"
    assert store.exists()
    return Published(work, plan, store)


def test_plain_install_partitions_validates_publishes_exports(
    venv: Venv, published: Published
) -> None:
    assert not venv.extras
    python = venv.path / "bin" / "python"
    probe = (
        "import importlib.util as u, json, sys; "
        "print(json.dumps({'gis': u.find_spec('gis').origin, "
        f"'extras': [m for m in {EXTRA_MODULES!r} if u.find_spec(m)]}}))"
    )
    done = subprocess.run(
        [python, "-c", probe],
        cwd=published.work,
        env=venv.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(done.stdout)
    assert Path(found["gis"]).is_relative_to(venv.path), found  # the wheel, not the checkout
    assert found["extras"] == [], f"the plain install brought extra modules: {found['extras']}"

    done = venv.wangge("validate", published.plan, "--against", SAMPLE, cwd=published.work)
    assert done.returncode == 0, f"validate: {done.stdout}{done.stderr}"

    exported = published.work / "live.geojson"
    done = venv.wangge("export", exported, "--store", published.store, cwd=published.work)
    assert done.returncode == 0, f"export: {done.stdout}{done.stderr}"
    features = json.loads(exported.read_text("utf-8"))["features"]
    assert features
    assert all(f["properties"].get("grid_code") for f in features)

    # what needs an extra says which one, in one line, with exit code 2
    done = venv.wangge("serve", "--store", published.store, cwd=published.work)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'wangge[serve]'" in done.stderr
    assert "Traceback" not in done.stderr
    done = venv.wangge("versions", "--store", "postgresql://ci@127.0.0.1:9/x", cwd=published.work)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'wangge[db]'" in done.stderr
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(venv: Venv, published: Published) -> Iterator[str]:
    """``wangge serve`` of the published store, from the venv with the ``serve`` extra added."""
    missing = [name for name in MAPLIBRE if not (VENDOR / name).is_file()]
    assert not missing, f"{VENDOR} lacks {missing}: run `bash scripts/ensure-npm.sh` first"
    if "serve" not in venv.extras:
        venv.install("serve")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = published.work / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                venv.path / "bin" / "wangge",
                "serve",
                "--store",
                published.store,
                "--basemap",
                SAMPLE,
                "--port",
                str(port),
            ],
            cwd=published.work,
            env=venv.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        started = time.monotonic()
        while True:
            assert server.poll() is None, f"wangge serve exited:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/versions", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - started < 120, f"no answer in 120 s:\n{log.read_text()}"
            time.sleep(0.5)
        venv.seconds["wangge serve (until it answers)"] = time.monotonic() - started
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_serve_extra_serves_the_map_with_its_maplibre_assets(venv: Venv, served: str) -> None:
    failed: list[str] = []
    errors: list[str] = []
    assets: dict[str, int] = {}
    started = time.monotonic()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))

        def seen(response: playwright.Response) -> None:
            name = response.url.rsplit("/", 1)[-1]
            if name in MAPLIBRE:
                assets[name] = response.status
            if response.status >= 400:
                failed.append(f"{response.url}: HTTP {response.status}")

        page.on("response", seen)
        page.goto(f"{served}/map")
        page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
        canvases = page.locator("canvas.maplibregl-canvas").count()
        version = page.evaluate("window.maplibregl && window.maplibregl.getVersion()")
        browser.close()
    venv.seconds["chromium /map"] = time.monotonic() - started
    assert assets == dict.fromkeys(MAPLIBRE, 200), assets
    assert failed == []
    assert errors == []
    assert canvases == 1
    assert version
