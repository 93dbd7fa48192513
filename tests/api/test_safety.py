"""The service refuses bad input at the door, keeps private what is private by default, and
does heavy work off the event loop (real HTTP against uvicorn on loopback, GeoPackage store).

* keys are compared with :func:`hmac.compare_digest`, every key every time;
* read tokens let the map read when reads need a key, and never write;
* staff records are checked (role, phone, name); a photo is a URL the service serves, never a
  file path;
* a batch of booleans (or text, or nulls) is not coordinates, whether a thread or the worker
  process reads it; large batches go to the worker process and answer the same;
* an ``as_of`` beyond the last version is answered by the live one, and the answer says so;
* a publish without a usable author changes nothing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import shapely
from fastapi import FastAPI
from service_helpers import Service

from api import auth
from api.main import create_app
from api.server import ServerThread, serve_in_thread
from api.settings import Settings

KEYS = {"pub-key": ["publisher"], "staff-key": ["staff"], "reader-key": ["reader"]}
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9"


@dataclass
class Running:
    """A service started by these tests, its app and its settings."""

    app: FastAPI
    server: ServerThread
    settings: Settings

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=120, **kwargs)


def start(settings: Settings) -> Running:
    app = create_app(settings)
    return Running(app, serve_in_thread(app), settings)


@pytest.fixture(scope="module")
def store_copy(gpkg_service: Service, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's GeoPackage store (its two versions), for tests that write."""
    folder = tmp_path_factory.mktemp("safety")
    path = folder / "plans.gpkg"
    shutil.copy(gpkg_service.settings.store_path, path)
    (folder / "photos").mkdir()
    (folder / "photos" / "zs.jpg").write_bytes(JPEG)
    return path


@pytest.fixture(scope="module")
def open_service(store_copy: Path) -> Iterator[Running]:
    """Reads open; batches above 1 KiB go to the worker process; a photo folder."""
    running = start(
        Settings(
            store_path=store_copy, api_keys=KEYS, poll_interval_s=0,
            batch_process_bytes=1024, photo_dir=store_copy.parent / "photos",
            batch_rate_per_s=0,  # no batch limit here: tests/api/test_ops.py tests it
        )
    )  # fmt: skip
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def keyed_service(store_copy: Path) -> Iterator[Running]:
    """Reads need a key or a read token."""
    running = start(
        Settings(store_path=store_copy, api_keys=KEYS, poll_interval_s=0, read_requires_key=True)
    )
    yield running
    running.server.stop()


def a_point_inside(service: Service) -> tuple[float, float, str]:
    grids = service.store.read_grids()
    p = shapely.point_on_surface(grids.geometry.iloc[3])
    return p.x, p.y, str(grids["grid_code"].iloc[3])


def test_keys_are_compared_in_constant_time_every_key_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    settings = Settings(api_keys={"k1": ["reader"], "k2": ["staff"], "k3": ["publisher"]})
    assert auth.roles_of(settings, "k1") == ["reader"]
    assert len(calls) == 3  # found at the first key, compared with all three anyway
    assert auth.roles_of(settings, "k2x") is None
    assert len(calls) == 6
    assert auth.roles_of(settings, "") is None


def test_read_tokens_read_when_reads_need_a_key_and_never_write(
    keyed_service: Running, gpkg_service: Service
) -> None:
    x, y, code = a_point_inside(gpkg_service)
    with keyed_service.client() as client:
        assert client.get("/versions").status_code == 401
        assert client.get("/lookup", params={"lon": x, "lat": y}).status_code == 401
        assert client.post("/auth/token").status_code == 401
        assert client.post("/auth/token", headers={"X-API-Key": "nope"}).status_code == 401
        issued = client.post("/auth/token", headers={"X-API-Key": "reader-key"})
        assert issued.status_code == 200, issued.text
        token = issued.json()["token"]
        assert issued.json()["roles"] == ["reader"]
        assert issued.json()["expires_in"] == keyed_service.settings.token_ttl_s
        read = {"X-API-Key": token}
        assert client.get("/versions", headers=read).status_code == 200
        found = client.get("/lookup", params={"lon": x, "lat": y}, headers=read)
        assert found.status_code == 200
        assert found.json()["grid"]["grid_code"] == code
        assert client.get("/tiles/2/tilejson.json", headers=read).status_code == 200
        staff = [{"name": "王芳", "role": "网格员", "phone": "13800000000"}]
        assert client.put(f"/grids/{code}/staff", json=staff, headers=read).status_code == 401
        post = client.post("/versions", params={"author": "x"}, json={}, headers=read)
        assert post.status_code == 401
        fresh = client.post("/auth/token", headers=read)  # the map's refresh
        assert fresh.status_code == 200
        assert fresh.json()["token"] != token
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert client.get("/versions", headers={"X-API-Key": forged}).status_code == 401
        expired, _ = auth.issue_token(keyed_service.settings, now=time.time() - 3600)
        gone = client.get("/versions", headers={"X-API-Key": expired})
        assert gone.status_code == 401
        assert "expired" in gone.json()["detail"]


@pytest.mark.parametrize(
    ("person", "words"),
    [
        ({"name": "王芳", "role": "emperor", "phone": "13800000000"}, "unknown role 'emperor'"),
        ({"name": "王芳", "role": "网格员", "phone": "1" * 10_000}, "at most 200 characters"),
        ({"name": "王芳", "role": "网格员", "phone": "12"}, "'12' is not a phone number"),
        ({"name": " ", "role": "网格员", "phone": "13800000000"}, "name ' ' is not usable"),
        ({"name": "王芳", "role": "网格员", "phone": "110", "photo": "../../etc/x.jpg"}, "photo"),
    ],
)
def test_staff_records_are_checked_and_a_bad_one_changes_nothing(
    open_service: Running, gpkg_service: Service, person: dict[str, str], words: str
) -> None:
    _, _, code = a_point_inside(gpkg_service)
    good = [{"name": "李四", "role": "worker", "phone": "021-12345678"}]
    key = {"X-API-Key": "staff-key"}
    with open_service.client() as client:
        assert client.put(f"/grids/{code}/staff", json=good, headers=key).status_code == 200
        before = client.get(f"/grids/{code}/staff").json()
        bad = client.put(f"/grids/{code}/staff", json=[*good, person], headers=key)
        after = client.get(f"/grids/{code}/staff").json()
    assert bad.status_code == 422, bad.text
    assert words in bad.json()["detail"]
    assert len(bad.text) < 2000  # a 10 KB phone number is not echoed back
    assert after == before


def test_a_staff_photo_is_a_served_url_never_a_file_path(
    open_service: Running, gpkg_service: Service
) -> None:
    x, y, code = a_point_inside(gpkg_service)
    staff = [
        {"name": "张三", "role": "网格员", "phone": "13800000001", "photo": "zs.jpg",
         "id_number": "310101199001011234"},  # an ID field: dropped at the door, never stored
        {"name": "李四", "role": "网格长", "phone": "13800000002",
         "photo": "/srv/private/photos/ls.jpg"},
        {"name": "王五", "role": "网格辅助员", "phone": "13800000003",
         "photo": "https://example.org/ww.png"},
    ]  # fmt: skip
    with open_service.client() as client:
        put = client.put(f"/grids/{code}/staff", json=staff, headers={"X-API-Key": "staff-key"})
        assert put.status_code == 200, put.text
        looked = client.get("/lookup", params={"lon": x, "lat": y})
        listed = client.get(f"/grids/{code}/staff")
        urls = [s["photo_url"] for s in looked.json()["staff"]]
        photo = client.get(urls[0])
        unknown = client.get("/staff/photos/0123456789abcdef01234567.jpg")
    stored = open_service.app.state.wangge.registry.read_staff()
    assert "310101199001011234" not in stored.to_csv()
    for answer in (looked, listed):
        assert "310101199001011234" not in answer.text
        assert "photo_path" not in answer.text
        assert "/srv/private" not in answer.text
        assert "zs.jpg" not in answer.text
    assert urls[0].startswith("/staff/photos/")
    assert urls[0].endswith(".jpg")
    assert urls[1] is None  # outside the photo folder: never served, never named
    assert urls[2] == "https://example.org/ww.png"
    assert [s["role_label"] for s in looked.json()["staff"]] == ["网格员", "网格长", "网格辅助员"]
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.content == JPEG
    assert unknown.status_code == 404


BAD_POINTS = [
    ([[True, False]], "point 0 is [True, False]"),
    ([[121.5, 31.2], [False, True]], "point 1 is [False, True]"),
    ([["121.5", "31.2"]], "not true/false, text or null"),
    ([[None, 31.2]], "not true/false, text or null"),
    ([121.5, 31.2], "not true/false, text or null"),
]


@pytest.mark.parametrize(("points", "words"), BAD_POINTS)
@pytest.mark.parametrize("where", ["thread", "process"])
def test_a_batch_of_booleans_is_not_coordinates(
    open_service: Running, points: list[Any], words: str, where: str
) -> None:
    padding = {"padding": "x" * 2048} if where == "process" else {}  # above 1 KiB: the process
    with open_service.client() as client:
        r = client.post("/lookup/batch", json={"points": points, **padding})
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


def test_a_csv_column_of_true_false_is_not_coordinates(open_service: Running) -> None:
    body = "lon,lat\ntrue,false\nfalse,true\n"
    with open_service.client() as client:
        r = client.post("/lookup/batch", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    assert "holds true/false values, not coordinates" in r.json()["detail"]


def test_large_batches_are_answered_by_a_worker_process_the_same(
    open_service: Running, gpkg_service: Service
) -> None:
    grids = gpkg_service.store.read_grids()
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(5)
    points = np.column_stack([rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)]).tolist()
    csv = "lon,lat\n" + "".join(f"{x},{y}\n" for x, y in points)
    with gpkg_service.client() as client:  # a body this size: a worker thread there
        want = client.post("/lookup/batch", json={"points": points}).json()
    with open_service.client() as client:
        got = client.post("/lookup/batch", json={"points": points})
        as_csv = client.post(
            "/lookup/batch", params={"format": "csv"}, content=csv,
            headers={"content-type": "text/csv"},
        )  # fmt: skip
        uploaded = client.post("/lookup/batch", files={"file": ("p.csv", csv)})
    assert got.status_code == 200, got.text
    assert got.json()["results"] == want["results"]
    assert got.json()["grids"] == want["grids"]
    assert as_csv.status_code == 200
    assert as_csv.text.splitlines()[0] == "lon,lat,grid_code"
    assert len(as_csv.text.splitlines()) == 3001
    assert uploaded.json()["results"] == want["results"]
    pool = open_service.app.state.wangge.batches._executor
    assert pool is not None
    pids = set(pool._processes)
    assert pids
    assert os.getpid() not in pids  # answered in another process, off this one's event loop


def test_as_of_beyond_the_last_version_is_answered_by_the_live_one_and_said(
    open_service: Running, gpkg_service: Service
) -> None:
    x, y, _ = a_point_inside(gpkg_service)
    first, live = gpkg_service.versions[0], gpkg_service.versions[-1]
    with open_service.client() as client:
        later = client.get("/lookup", params={"lon": x, "lat": y, "as_of": "2999-01-01T00:00:00Z"})
        then = client.get(
            "/lookup", params={"lon": x, "lat": y, "as_of": first.valid_from.isoformat()}
        )
        now = client.get("/lookup", params={"lon": x, "lat": y})
        batch = client.post(
            "/lookup/batch", params={"as_of": "2999-01-01T00:00:00Z"}, json={"points": [[x, y]]}
        )
    assert later.status_code == 200
    assert later.json()["version"]["id"] == live.id
    assert later.json()["as_of"]["beyond_last_version"] is True
    assert later.json()["as_of"]["version"] == live.id
    assert "after the last published version" in later.json()["as_of"]["note"]
    assert then.json()["as_of"]["beyond_last_version"] is False
    assert then.json()["version"]["id"] == first.id
    assert "as_of" not in now.json()
    assert batch.json()["as_of"]["beyond_last_version"] is True


def test_a_publish_without_a_usable_author_or_body_changes_nothing(
    open_service: Running, gpkg_service: Service
) -> None:
    import json  # noqa: PLC0415

    grids = json.loads(gpkg_service.store.read_grids().drop(columns=["version_id"]).to_json())
    key = {"X-API-Key": "pub-key"}
    with open_service.client() as client:
        before = client.get("/versions").json()
        blank = client.post(
            "/versions", params={"author": "   "}, json={"grids": grids}, headers=key
        )
        not_json = client.post(
            "/versions", params={"author": "a"}, content=b"{nope", headers={**key,
            "content-type": "application/json"},
        )  # fmt: skip
        no_grids = client.post("/versions", params={"author": "a"}, json={}, headers=key)
        after = client.get("/versions").json()
    assert blank.status_code == 422
    assert "author must name who publishes" in blank.json()["detail"]
    assert not_json.status_code == 422
    assert no_grids.status_code == 422
    assert "grids" in no_grids.json()["detail"]
    assert after == before
