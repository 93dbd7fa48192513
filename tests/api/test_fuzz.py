"""Requests as an attacker or a careless user sends them (Hypothesis), over real HTTP: no 500,
no traceback in any answer, an error is JSON with its reason; no key gets past a write.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_helpers import Service

from api import auth

TEXT = st.text(max_size=40)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20), TEXT
)
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), TEXT),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check(r: httpx.Response) -> None:
    """Never a server error, never a traceback; an error says why, as JSON."""
    assert r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
    assert "Traceback" not in r.text
    if r.status_code >= 400 and "json" in r.headers.get("content-type", ""):
        body = r.json()
        assert isinstance(body.get("detail"), str | list), body


@FUZZ
@given(lon=NUMBER, lat=NUMBER, crs=TEXT, as_of=st.one_of(st.none(), TEXT, st.datetimes()))
def test_lookup_parameters(gpkg_service: Service, lon: Any, lat: Any, crs: str, as_of: Any) -> None:
    params = {"lon": str(lon), "lat": str(lat), "crs": crs}
    if as_of is not None:
        params["as_of"] = str(as_of)
    with gpkg_service.client() as client:
        check(client.get("/lookup", params=params))


@FUZZ
@given(
    body=JSON_VALUE,
    points=st.lists(st.lists(JSON_VALUE, max_size=3), max_size=5),
    ctype=st.sampled_from(["application/json", "text/csv", "application/parquet", "", "x/y"]),
    fmt=st.sampled_from(["json", "csv", "parquet", "xml"]),
)
def test_batch_bodies(
    gpkg_service: Service, body: Any, points: list[Any], ctype: str, fmt: str
) -> None:
    with gpkg_service.client() as client:
        for content in (json.dumps(body), json.dumps({"points": points, "crs": "wgs84"})):
            r = client.post(
                "/lookup/batch",
                params={"format": fmt},
                content=content.encode(),
                headers={"content-type": ctype},
            )
            check(r)


@FUZZ
@given(
    path=st.sampled_from(
        ["/collections/grids/items", "/collections/cells/items", "/lookup/address",
         "/versions", "/collections", "/tiles/2/tilejson.json"]
    ),
    params=st.dictionaries(
        st.sampled_from(["bbox", "limit", "offset", "version", "q", "as_of", "crs", "f"]),
        TEXT, max_size=4,
    ),
    tile=st.tuples(st.integers(-3, 40), st.integers(-5, 2**20), st.integers(-5, 2**20)),
    code=TEXT,
)  # fmt: skip
def test_reads_with_any_parameters(
    gpkg_service: Service, path: str, params: dict[str, str], tile: tuple[int, int, int], code: str
) -> None:
    z, x, y = tile
    name = quote(code, safe="") or "x"
    with gpkg_service.client() as client:
        check(client.get(path, params=params))
        check(client.get(f"/tiles/2/{z}/{x}/{y}.mvt"))
        check(client.get(f"/grids/{name}/staff"))
        check(client.get(f"/staff/photos/{name}.jpg"))


def credentials(real: str, token: str) -> list[dict[str, str]]:
    """Headers that must not get past a write (``real`` holds another role)."""
    return [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "nope"},
        {"X-API-Key": real[:-1]},
        {"X-API-Key": real + "x"},
        {"X-API-Key": real.upper()},
        {"X-API-Key": f"{real}\t{real}"},
        {"X-API-Key": token},  # a read token: reading only
        {"X-API-Key": token[:-4] + "AAAA"},
        {"Authorization": "Bearer staff-key"},  # a real key, where no key is read
        {"Cookie": "X-API-Key=pub-key"},
        {"X-API-Key": "reader-key"},  # a real key without the role
    ]


def test_no_key_gets_past_a_write(gpkg_service: Service, fault_log: Any) -> None:
    grids = gpkg_service.store.read_grids()
    code = str(grids["grid_code"].iloc[1])
    token, _ = auth.issue_token(gpkg_service.settings)
    payload = {"grids": json.loads(grids.drop(columns=["version_id"]).to_json())}
    staff = [{"name": "王芳", "role": "网格员", "phone": "13800000000"}]
    attempts = 0
    with gpkg_service.client() as client:
        versions = client.get("/versions").json()
        roster = client.get(f"/grids/{code}/staff").json()
        for headers in credentials("reader-key", token):
            for method, path, kwargs in (
                ("POST", "/versions", {"params": {"author": "x"}, "json": payload}),
                ("PUT", f"/grids/{code}/staff", {"json": staff}),
                ("POST", "/addresses", {"content": b"address,lon,lat\n",
                                         "headers_ct": "text/csv"}),
            ):  # fmt: skip
                extra = {"content-type": kwargs.pop("headers_ct")} if "headers_ct" in kwargs else {}
                r = client.request(method, path, headers={**headers, **extra}, **kwargs)
                attempts += 1
                assert r.status_code in (401, 403), (headers, path, r.status_code, r.text)
        assert client.get("/versions").json() == versions
        assert client.get(f"/grids/{code}/staff").json() == roster
    fault_log(f"{attempts} write attempts with bad, near-miss or read-only keys: none got through")
