"""Operations: CORS (reads from anywhere, writes from none), ``/health`` and ``/ready``, access
logs with request ids, Prometheus metrics and batch rate limits, over real HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import httpx
import orjson
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql
from shapely.geometry import box

from api.limits import RateLimiter
from api.main import create_app
from api.server import free_port, serve_in_thread
from api.settings import Settings
from gis.store import Store, open_store

KEYS = {"key-one": ["reader"], "key-two": ["reader"], "pub-key": ["publisher"]}
OTHER_ORIGIN = "https://elsewhere.example"
OFFICE_ORIGIN = "https://office.example"
INSIDE = {"lon": 121.4905, "lat": 31.2305}


def squares(n: int = 2) -> gpd.GeoDataFrame:
    """n×n grids of 0.001° by the Bund."""
    rows = [
        {"grid_code": f"G{r}{c}", "kind": "ordinary", "households": 400, "parent_code": "U",
         "parent_name": "", "geometry": box(121.49 + c / 1000, 31.23 + r / 1000,
                                            121.49 + (c + 1) / 1000, 31.23 + (r + 1) / 1000)}
        for r in range(n) for c in range(n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


@contextmanager
def running(
    tmp_path: Path, *, published: bool = True, **options: object
) -> Iterator[tuple[httpx.Client, Store]]:
    """The service on a fresh GeoPackage store (with one version when ``published``)."""
    store = open_store(tmp_path / "plans.gpkg")
    if published:
        store.publish(squares(), author="tests")
    settings = Settings(
        store_path=tmp_path / "plans.gpkg", api_keys=KEYS, poll_interval_s=0, **options
    )
    server = serve_in_thread(create_app(settings))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, store
    finally:
        server.stop()
        store.close()


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether ``check()`` holds within ``timeout_s`` (the server counts and logs a request
    just after its last byte is sent, so the client may be a moment ahead)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def sample(client: httpx.Client, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics`` (0 when absent)."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def preflight(client: httpx.Client, path: str, method: str, origin: str) -> httpx.Response:
    """A browser's CORS preflight for ``method path`` with an API key header."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    return client.options(path, headers=headers)


def test_reads_are_allowed_from_any_origin_and_writes_from_none(tmp_path: Path) -> None:
    with running(tmp_path) as (client, _):
        for path, method in [("/lookup", "GET"), ("/lookup/batch", "POST"),
                             ("/collections", "GET"), ("/auth/token", "POST")]:  # fmt: skip
            r = preflight(client, path, method, OTHER_ORIGIN)
            assert 200 <= r.status_code < 300, (path, r.status_code, r.text)
            assert r.headers["access-control-allow-origin"] == "*"
            assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
        r = client.get("/lookup", params=INSIDE, headers={"Origin": OTHER_ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "X-Request-ID" in r.headers["access-control-expose-headers"]

        for path, method in [("/versions", "POST"), ("/grids/G00/staff", "PUT"),
                             ("/addresses", "POST")]:  # fmt: skip
            r = preflight(client, path, method, OTHER_ORIGIN)
            assert "access-control-allow-origin" not in r.headers, (path, r.headers)
            assert r.status_code == 400  # refused, not a 405 from the router
        r = client.post(
            "/versions", headers={"Origin": OTHER_ORIGIN, "X-API-Key": "pub-key"}, json={}
        )
        assert "access-control-allow-origin" not in r.headers


def test_writes_are_allowed_from_the_configured_origins_only(tmp_path: Path) -> None:
    with running(tmp_path, cors_write_origins=[OFFICE_ORIGIN]) as (client, _):
        r = preflight(client, "/versions", "POST", OFFICE_ORIGIN)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == OFFICE_ORIGIN
        r = preflight(client, "/versions", "POST", OTHER_ORIGIN)
        assert "access-control-allow-origin" not in r.headers
        assert preflight(client, "/lookup", "GET", OTHER_ORIGIN).status_code == 200


def test_health_and_readiness_follow_the_store(tmp_path: Path) -> None:
    with running(tmp_path, published=False) as (client, store):
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/health").status_code == 200
        r = client.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["ready"] is False
        assert body["live_version"] is None
        assert "尚无" in body["reason"]
        assert "no plan version is live" in body["reason"]
        assert sample(client, "wangge_index_reloads_total") == 0

        store.publish(squares(), author="tests")  # by another process, say
        r = client.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json() == {"ready": True, "live_version": 1, "reason": None}
        assert sample(client, "wangge_index_reloads_total") == 1
        assert client.get("/lookup", params=INSIDE).status_code == 200


def test_readiness_says_when_the_store_is_gone(tmp_path: Path) -> None:
    with running(tmp_path) as (client, _):
        assert client.get("/ready").status_code == 200
        (tmp_path / "plans.gpkg").write_bytes(b"not a GeoPackage")  # a broken disk, say
        r = client.get("/ready")
        assert r.status_code == 503
        assert "无法连接" in r.json()["reason"]
        assert "cannot be reached" in r.json()["reason"]
        assert client.get("/health").status_code == 200


class Lines(logging.Handler):
    """Keeps the messages of the access logger."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    """The access log's lines while the test runs."""
    lines = Lines()
    logger = logging.getLogger("api.access")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


def logged(lines: Lines, request_id: str) -> dict[str, object] | None:
    for message in lines.messages:
        line = orjson.loads(message)  # every line is one JSON object
        if line["request_id"] == request_id:
            return dict(line)
    return None


def test_access_log_lines_are_json_with_the_echoed_request_id(
    tmp_path: Path, access_lines: Lines
) -> None:
    with running(tmp_path) as (client, _):
        r = client.get(
            "/lookup", params=INSIDE, headers={"X-Request-ID": "req-42.a", "X-API-Key": "key-one"}
        )
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "req-42.a"
        assert eventually(lambda: logged(access_lines, "req-42.a") is not None)
        line = logged(access_lines, "req-42.a")
        assert line is not None
        assert line["method"] == "GET"
        assert line["path"] == "/lookup"  # no query string: it may hold an address
        assert line["route"] == "/lookup"
        assert line["status"] == 200
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["key_id"] == hashlib.sha256(b"key-one").hexdigest()[:16]
        assert not any("key-one" in m for m in access_lines.messages)

        for bad in [b"has spaces", b"x" * 129, "ünï".encode(), b"a\tb", b""]:
            r = client.get("/health", headers={"X-Request-ID": bad})
            made = r.headers["x-request-id"]
            assert made.encode() != bad
            assert len(made) == 32
            assert eventually(lambda made=made: logged(access_lines, made) is not None)
        r = client.get("/nowhere/at/all")
        assert r.status_code == 404
        made = r.headers["x-request-id"]
        assert eventually(lambda: logged(access_lines, made) is not None)
        line = logged(access_lines, made)
        assert line is not None
        assert line["key_id"] is None
        assert line["route"] == "<unmatched>"


def test_metrics_count_requests_and_lookups(tmp_path: Path) -> None:
    with running(tmp_path) as (client, _):
        requests = {"method": "GET", "route": "/lookup", "status": "200"}
        inside = {"route": "/lookup", "outcome": "inside"}
        outside = {"route": "/lookup", "outcome": "outside"}
        assert sample(client, "wangge_http_requests_total", **requests) == 0
        assert client.get("/lookup", params=INSIDE).status_code == 200
        assert client.get("/lookup", params=INSIDE).status_code == 200
        far = {"lon": 100.0, "lat": 30.0}
        assert client.get("/lookup", params=far).status_code == 404
        assert client.get("/lookup", params={**far, "if_outside": "empty"}).status_code == 204
        assert eventually(lambda: sample(client, "wangge_lookups_total", **inside) == 2)
        assert eventually(lambda: sample(client, "wangge_lookups_total", **outside) == 2)
        assert sample(client, "wangge_http_requests_total", **requests) == 2
        latency = {"method": "GET", "route": "/lookup"}
        assert sample(client, "wangge_http_request_duration_seconds_count", **latency) == 4
        body = {"points": [[INSIDE["lon"], INSIDE["lat"]], [100.0, 30.0]]}
        assert client.post("/lookup/batch", json=body).status_code == 200
        answered = {"route": "/lookup/batch", "outcome": "answered"}
        assert eventually(lambda: sample(client, "wangge_lookups_total", **answered) == 1)
        r = client.get("/grids/NOPE/addresses")  # the template is the label, not the path
        assert r.status_code == 401
        labels = {"route": "/grids/{grid_code}/addresses", "status": "401"}
        assert eventually(lambda: sample(client, "wangge_http_requests_total", **labels) == 1)

        assert client.request("PURGE", "/lookup").status_code == 405
        other = {"method": "OTHER", "route": "/lookup", "status": "405"}
        assert eventually(lambda: sample(client, "wangge_http_requests_total", **other) == 1)
        assert client.get("/openapi.json").status_code == 200  # a plain route, not an API one
        openapi = {"method": "GET", "route": "/openapi.json", "status": "200"}
        assert eventually(lambda: sample(client, "wangge_http_requests_total", **openapi) == 1)

    with running(tmp_path / "second") as (other, _):  # a registry per app
        assert sample(other, "wangge_lookups_total", **inside) == 0


def test_batches_over_the_limit_get_429_and_other_keys_do_not(tmp_path: Path) -> None:
    body = {"points": [[INSIDE["lon"], INSIDE["lat"]]]}
    with running(tmp_path, batch_burst=2, batch_rate_per_s=0.01) as (client, _):
        one, two = {"X-API-Key": "key-one"}, {"X-API-Key": "key-two"}
        for _ in range(2):
            assert client.post("/lookup/batch", json=body, headers=one).status_code == 200
        r = client.post("/lookup/batch", json=body, headers=one)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 100
        assert r.json()["error"] == "RateLimitedError"
        addresses = {"addresses": ["中山东一路1号"]}
        r = client.post("/lookup/address/batch", json=addresses, headers=one)
        assert r.status_code == 429  # one bucket for both batch routes
        assert "retry-after" in r.headers

        assert client.post("/lookup/batch", json=body, headers=two).status_code == 200
        assert client.get("/lookup", params=INSIDE, headers=one).status_code == 200
        for _ in range(2):  # without a key: the client address's bucket
            assert client.post("/lookup/batch", json=body).status_code == 200
        assert client.post("/lookup/batch", json=body).status_code == 429
        made_up = {"X-API-Key": "not-a-key"}  # an unknown key is no fresh bucket
        assert client.post("/lookup/batch", json=body, headers=made_up).status_code == 429


def test_the_openapi_declares_the_errors_routes_give(tmp_path: Path) -> None:
    with running(tmp_path) as (client, _):
        paths = client.get("/openapi.json").json()["paths"]
    for path in ("/lookup/batch", "/lookup/address/batch"):
        assert "Retry-After" in paths[path]["post"]["responses"]["429"]["headers"]
    assert "429" not in paths["/lookup"]["get"]["responses"]
    assert {"401", "403"} <= set(paths["/addresses"]["post"]["responses"])
    assert {"401", "403", "404"} <= set(paths["/grids/{grid_code}/addresses"]["get"]["responses"])
    assert "403" not in paths["/lookup/address"]["get"]["responses"]  # no role needed
    assert set(paths["/ready"]["get"]["responses"]) == {"200", "503"}


def test_a_bucket_refills_at_its_rate_and_holds_at_most_its_burst() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == pytest.approx(0.5)  # a token every 0.5 s
    assert limiter.take("a", 0.25) == pytest.approx(0.25)
    assert limiter.take("a", 0.5) == 0.0
    assert limiter.take("b", 0.5) == 0.0  # another caller, another bucket
    assert [limiter.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # full again,
    assert limiter.take("a", 100.0) == pytest.approx(0.5)  # but never above the burst
    assert RateLimiter(rate_per_s=0, burst=1).take("a", 0.0) == 0.0  # 0: no limit


def test_the_least_recently_seen_bucket_is_forgotten_first() -> None:
    limiter = RateLimiter(rate_per_s=0.001, burst=1, max_buckets=2)
    assert limiter.take("x", 0.0) == limiter.take("y", 0.0) == 0.0
    assert limiter.take("x", 0.0) > 0  # x: seen last, empty
    assert limiter.take("z", 0.0) == 0.0  # a third bucket: y is forgotten
    assert limiter.take("x", 0.0) > 0  # x is not
    assert limiter.take("y", 0.0) == 0.0  # y starts full again


class Proxy:
    """A loopback TCP proxy to PostgreSQL that can be cut and restored (the store becomes
    unreachable for the service, and PostgreSQL itself keeps running for everyone else)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen()
        except OSError:
            listener.close()
            raise
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._sockets.clear()


@pytest.mark.postgis
def test_readiness_on_postgis_follows_the_database(postgis_url: str) -> None:
    parts = urlsplit(postgis_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    url = urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))
    schema = f"t_ops_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    store = open_store(postgis_url, schema=schema)
    server = serve_in_thread(create_app(Settings(database_url=url, db_schema=schema,
                                                 poll_interval_s=0)))  # fmt: skip
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.get("/ready")
            assert r.status_code == 503
            assert "no plan version is live" in r.json()["reason"]
            store.publish(squares(), author="tests")
            assert client.get("/ready").json() == {"ready": True, "live_version": 1, "reason": None}
            proxy.cut()
            r = client.get("/ready")
            assert r.status_code == 503
            assert "无法连接" in r.json()["reason"]
            assert client.get("/health").status_code == 200
            proxy.start()
            assert client.get("/ready").status_code == 200  # reconnected
    finally:
        server.stop()
        store.close()
        proxy.cut()
        with psycopg.connect(postgis_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
