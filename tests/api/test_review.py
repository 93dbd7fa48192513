"""Review through the API on both stores, served by uvicorn on loopback: propose → approve,
reject, rollback; self-approval refused by name and by key; drafts invisible to lookups and
to keys that may not read them; every step in the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from service_helpers import squares_plan

from api.main import create_app
from api.server import serve_in_thread
from api.settings import Settings
from gis import columns as col
from gis.store import open_store

KEYS = {
    "author-key": ["author"],
    "reviewer-key": ["reviewer"],
    "reviewer-2": ["reviewer"],
    "pub-key": ["publisher"],
    "reader-key": ["reader"],
}


def _body(prefix: str) -> str:
    grids = squares_plan(3)
    grids[col.GRID_CODE] = [f"{prefix}{i:02d}" for i in range(len(grids))]
    return json.dumps({"grids": json.loads(grids.to_crs(4326).to_json())})


def _inside_first_grid() -> tuple[float, float]:
    grids = squares_plan(3).sort_values(col.GRID_CODE)
    point = shapely.point_on_surface(grids.geometry.iloc[0].buffer(-20))
    lon, lat = gpd.GeoSeries([point], crs=grids.crs).to_crs(4326).iloc[0].coords[0]
    return lon, lat


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    """A fresh store (one live version of grids A00…A08) served on loopback."""
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        settings = Settings(database_url=pg.url, db_schema=pg.schema, api_keys=KEYS,
                            poll_interval_s=0.2)  # fmt: skip
    else:
        settings = Settings(store_path=tmp_path / "plans.gpkg", api_keys=KEYS, poll_interval_s=0.2)
    with open_store(settings.store_url, schema=settings.db_schema) as store:
        first = squares_plan(3)
        first[col.GRID_CODE] = [f"A{i:02d}" for i in range(len(first))]
        store.publish(first, author="区网格中心", note="v1")
    server = serve_in_thread(create_app(settings))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    server.stop()


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": "application/json"}


def test_propose_approve_reject_rollback(client: httpx.Client) -> None:
    lon, lat = _inside_first_grid()
    made = client.post("/versions/drafts", params={"author": "街道办王芳", "note": "调整"},
                       content=_body("A"), headers=_as("author-key"))  # fmt: skip
    assert made.status_code == 201, made.text
    draft = made.json()
    assert draft["state"] == "submitted"
    assert draft["valid_from"] is None
    # invisible: lookups still answer from version 1; the list hides it from readers
    assert client.get("/lookup", params={"lon": lon, "lat": lat}).json()["version"]["id"] == 1
    assert [v["id"] for v in client.get("/versions").json()] == [1]
    assert client.get(f"/versions/{draft['id']}").status_code == 404
    refused = client.get("/versions", params={"drafts": True}, headers=_as("reader-key"))
    assert refused.status_code == 403
    listed = client.get("/versions", params={"drafts": True}, headers=_as("reviewer-key"))
    assert [v["state"] for v in listed.json()] == ["approved", "submitted"]
    diff = client.get(f"/versions/{draft['id']}/diff", headers=_as("reviewer-key"))
    assert diff.status_code == 200, diff.text
    assert diff.json()["unchanged"] == 9

    # the author may not approve, by name or by key; the reader key not at all
    approve = f"/versions/{draft['id']}/approve"
    by_name = client.post(approve, params={"reviewer": "街道办王芳"}, headers=_as("reviewer-key"))
    assert by_name.status_code == 403, by_name.text
    assert "must differ" in by_name.json()["detail"]
    assert client.post(f"/versions/{draft['id']}/approve", params={"reviewer": "x"},
                       headers=_as("author-key")).status_code == 403  # fmt: skip
    ok = client.post(f"/versions/{draft['id']}/approve", params={"reviewer": "区中心李强"},
                     headers=_as("reviewer-key"))  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert ok.json()["live"]
    again = client.post(f"/versions/{draft['id']}/approve", params={"reviewer": "区中心李强"},
                        headers=_as("reviewer-key"))  # fmt: skip
    assert again.status_code == 409

    other = client.post("/versions/drafts", params={"author": "街道办王芳"},
                        content=_body("A"), headers=_as("author-key")).json()  # fmt: skip
    rejected = client.post(f"/versions/{other['id']}/reject",
                           params={"reviewer": "区中心李强", "reason": "户数不实"},
                           headers=_as("reviewer-key"))  # fmt: skip
    assert rejected.json()["state"] == "rejected"
    assert client.post(f"/versions/{other['id']}/approve", params={"reviewer": "赵"},
                       headers=_as("reviewer-2")).status_code == 409  # fmt: skip

    back = client.post("/versions/1/rollback", params={"author": "区中心李强"},
                       headers=_as("reviewer-key"))  # fmt: skip
    assert back.status_code == 201, back.text
    assert back.json()["rollback_of"] == 1
    log = client.get("/audit", headers=_as("reviewer-key")).json()
    steps = [(e["action"], e["version_id"]) for e in log]
    assert steps == [("publish", 1), ("submit", 2), ("approve", 2), ("submit", 3),
                     ("reject", 3), ("rollback", 4)]  # fmt: skip
    assert log[2]["label"] == "审核通过"
    assert all("author-key" not in json.dumps(e) for e in log)  # the key id is a hash
    assert client.get("/audit", headers=_as("reader-key")).status_code == 403


def test_one_key_cannot_propose_and_approve(client: httpx.Client) -> None:
    made = client.post("/versions/drafts", params={"author": "甲"}, content=_body("A"),
                       headers=_as("pub-key")).json()  # fmt: skip
    same_key = client.post(f"/versions/{made['id']}/approve", params={"reviewer": "乙"},
                           headers=_as("pub-key"))  # fmt: skip
    assert same_key.status_code == 403
    assert "key that proposed" in same_key.json()["detail"]
    assert client.get("/versions").json()[-1]["id"] == 1  # nothing changed
    retired = client.post("/versions", params={"author": "甲"}, content=_body("B"),
                          headers=_as("pub-key"))  # fmt: skip
    assert retired.status_code == 201
    reused = client.post("/versions/drafts", params={"author": "甲"}, content=_body("A"),
                         headers=_as("pub-key"))  # fmt: skip
    assert reused.status_code == 422
    assert "retired" in reused.json()["detail"]


def test_a_read_token_of_a_reviewer_reads_drafts_and_never_writes(client: httpx.Client) -> None:
    made = client.post("/versions/drafts", params={"author": "甲"}, content=_body("A"),
                       headers=_as("author-key")).json()  # fmt: skip
    plain = client.post("/auth/token", headers={"X-API-Key": "reader-key"}).json()
    assert plain["roles"] == ["reader"]
    drafts = client.post("/auth/token", headers={"X-API-Key": "reviewer-key"}).json()
    assert drafts["roles"] == ["reader", "drafts"]
    assert drafts["token"].startswith("d1.")
    token = {"X-API-Key": drafts["token"]}
    listed = client.get("/versions", params={"drafts": True}, headers=token)
    assert [v["id"] for v in listed.json()] == [1, made["id"]]
    grids = client.get(f"/versions/{made['id']}/grids", headers=token).json()
    assert {f["properties"]["change_label"] for f in grids["features"]} == {"未变"}  # same plan
    assert client.get(f"/versions/{made['id']}/grids",
                      headers={"X-API-Key": plain["token"]}).status_code == 403  # fmt: skip
    refused = client.post(f"/versions/{made['id']}/approve", params={"reviewer": "乙"},
                          headers=token)  # fmt: skip
    assert refused.status_code == 401  # a token never writes
    renewed = client.post("/auth/token", headers=token).json()
    assert renewed["roles"] == ["reader", "drafts"]


def test_a_draft_is_looked_up_by_id_only_with_a_key_that_may(client: httpx.Client) -> None:
    lon, lat = _inside_first_grid()
    made = client.post("/versions/drafts", params={"author": "甲"}, content=_body("B"),
                       headers=_as("author-key")).json()  # fmt: skip
    where = {"lon": lon, "lat": lat}
    live = client.get("/lookup", params=where).json()
    assert (live["grid"]["grid_code"], live["version"]["id"]) == ("A00", 1)
    asked = {**where, "version": made["id"]}
    assert client.get("/lookup", params=asked).status_code == 404  # no key: no such version
    assert client.get("/lookup", params=asked, headers=_as("reader-key")).status_code == 404
    draft = client.get("/lookup", params=asked, headers=_as("reviewer-key")).json()
    assert draft["grid"]["grid_code"] == "B00"
    assert draft["version"]["state"] == "submitted"
    old = client.get("/lookup", params={**where, "version": 1}).json()
    assert old["grid"]["grid_code"] == "A00"  # an approved version by id: open as before
    both = client.get("/lookup", params={**asked, "as_of": "2026-01-01T00:00:00Z"},
                      headers=_as("reviewer-key"))  # fmt: skip
    assert both.status_code == 422
