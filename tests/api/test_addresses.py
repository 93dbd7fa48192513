"""Address lookups (single, batch), a grid's doors, and importing the table by API and CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import typer
from service_helpers import Service
from typer.testing import CliRunner

from gis.commands.addresses import register
from gis.store.addresses import open_registry

KEY = {"X-API-Key": "addr-key", "content-type": "text/csv"}


def import_table(service: Service, csv: Path) -> None:
    with service.client() as client:
        denied = client.post("/addresses", content=csv.read_bytes())
        assert denied.status_code == 401
        r = client.post("/addresses", params={"replace": "true"}, content=csv.read_bytes(),
                        headers=KEY)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == len(pd.read_csv(csv))
    assert r.json()["total"] == len(pd.read_csv(csv))


@pytest.fixture
def with_addresses(service: Service, address_csv: Path) -> Service:
    import_table(service, address_csv)
    return service


QUERIES = [  # (how a resident types it, row of the table it means, the answer)
    ("上海市黄浦区中山东一路10号1栋1单元100室", 0, "exact"),
    ("中山东一路１０號１号楼１单元１００", 0, "exact"),  # full-width, 號, 号楼, no 室, no prefix
    ("中山东一路10号2幢2单元200室", 1, "exact"),  # 幢
    ("黃浦區中山東一路10號3棟3單元300室", 2, "exact"),  # traditional characters
    ("南京东路12号2栋2-201", 4, "exact"),  # unit-room shorthand
    ("九江路14号 三栋 三单元 302", 8, "exact"),  # Chinese numerals, spaces
    ("南京冬路12号2栋2单元201室", 4, "probable"),  # a typo in the road
]


@pytest.mark.parametrize(("query", "row", "match"), QUERIES)
def test_address_queries_find_the_right_address_and_grid(
    with_addresses: Service, address_csv: Path, query: str, row: int, match: str
) -> None:
    table = pd.read_csv(address_csv, dtype=str)
    with with_addresses.client() as client:
        r = client.get("/lookup/address", params={"q": query, "limit": 3}, headers=KEY)
        anonymous = client.get("/lookup/address", params={"q": query, "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["match"] == match
    best = body["candidates"][0]
    assert best["address"] == table["address"][row]
    assert best["grid"]["grid_code"] == table["expected_grid"][row]
    assert body["grid_code"] == table["expected_grid"][row]
    assert "door" in best["agreed"]
    scores = [c["score"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert [c["address"] for c in anonymous.json()["candidates"]] == [best["address"]]


def test_no_such_address_is_none_and_shows_no_neighbours(with_addresses: Service) -> None:
    with with_addresses.client() as client:
        r = client.get("/lookup/address", params={"q": "中山东一路10号1栋1单元999室"})
        keyed = client.get("/lookup/address", params={"q": "中山东一路10号1栋1单元999室"},
                           headers=KEY)  # fmt: skip
    assert r.json()["match"] == "none"
    assert r.json()["candidates"] == []
    assert r.json()["grid_code"] is None
    assert "room" in keyed.json()["candidates"][0]["disagreed"]


def test_batch_json_and_csv(with_addresses: Service, address_csv: Path) -> None:
    table = pd.read_csv(address_csv, dtype=str)
    queries = [q for q, _, _ in QUERIES] + ["中山东一路99号1栋1单元100室"]
    with with_addresses.client() as client:
        r = client.post("/lookup/address/batch", json={"addresses": queries})
        csv = client.post("/lookup/address/batch", params={"format": "csv"},
                          content=pd.DataFrame({"address": queries}).to_csv(index=False),
                          headers={"content-type": "text/csv"})  # fmt: skip
        bad = client.post("/lookup/address/batch", json={"addresses": [1, 2]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(queries)
    results = body["results"]
    for (_, row, match), got in zip(QUERIES, results, strict=False):
        assert got["match"] == match
        assert got["grid_code"] == table["expected_grid"][row]
    assert results[-1]["match"] == "none"
    assert results[-1]["address"] is None
    frame = pd.read_csv(io.StringIO(csv.text), dtype=str)
    assert list(frame["match"]) == [g["match"] for g in results]
    assert bad.status_code == 422


def test_a_grids_doors_need_the_role(with_addresses: Service, address_csv: Path) -> None:
    table = pd.read_csv(address_csv, dtype=str)
    code = table["expected_grid"][0]
    with with_addresses.client() as client:
        assert client.get(f"/grids/{code}/addresses").status_code == 401
        other = client.get(f"/grids/{code}/addresses", headers={"X-API-Key": "reader-key"})
        r = client.get(f"/grids/{code}/addresses", params={"rooms": "true"}, headers=KEY)
        missing = client.get("/grids/NOPE/addresses", headers=KEY)
    assert other.status_code == 403
    assert r.status_code == 200, r.text
    body = r.json()
    mine = set(table.loc[table["expected_grid"] == code, "address"])
    assert {a["address"] for a in body["addresses"]} == mine
    assert body["counts"]["addresses"] == len(mine)
    assert sum(d["addresses"] for d in body["doors"]) == len(mine)
    assert missing.status_code == 404


def test_import_refuses_bad_tables_and_keeps_the_old_one(with_addresses: Service) -> None:
    with with_addresses.client() as client:
        before = client.get("/lookup/address", params={"q": "中山东一路10号1栋1单元100室"}).json()
        for body, params, expected in (
            (b"name,x\nfoo,1\n", {}, "needs columns address, lon, lat"),
            (b"address,lon,lat\n", {"replace": "true"}, "no rows"),
            ("address,lon,lat\n上海市某路1号,999,31\n".encode(), {}, "out of range"),
            ("address,lon,lat\n上海市某路1号,121,-400\n".encode(), {}, "out of range"),
        ):
            r = client.post("/addresses", content=body, params=params, headers=KEY)
            assert r.status_code == 422, r.text
            assert expected in r.json()["detail"]
        after = client.get("/lookup/address", params={"q": "中山东一路10号1栋1单元100室"}).json()
    assert after == before  # the table is unchanged: the same answer


def test_cli_imports_looks_up_and_lists(
    service: Service, address_csv: Path, tmp_path: Path
) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    store, schema = service.settings.store_url, service.settings.db_schema
    where = ["--store", store, "--schema", schema]
    header = tmp_path / "header.csv"
    header.write_text("address,lon,lat\n", encoding="utf-8")
    wiped = runner.invoke(app, ["addresses", "import", str(header), "--replace", *where])
    assert wiped.exit_code == 2
    assert "no rows" in wiped.output
    far = tmp_path / "far.csv"
    far.write_text("address,lon,lat\n上海市某路1号,999,-400\n", encoding="utf-8")
    refused = runner.invoke(app, ["addresses", "import", str(far), *where])
    assert refused.exit_code == 2
    assert "out of range" in refused.output
    done = runner.invoke(app, ["addresses", "import", str(address_csv), "--replace", *where])
    assert done.exit_code == 0, done.output
    assert "48 addresses" in done.output
    registry = open_registry(store, schema=schema)
    assert registry.count_addresses() == 48
    registry.close()
    table = pd.read_csv(address_csv, dtype=str)
    queries = tmp_path / "in.csv"
    pd.DataFrame({"id": range(3), "address": [q for q, _, _ in QUERIES[:3]]}).to_csv(
        queries, index=False
    )
    out = tmp_path / "out.csv"
    looked = runner.invoke(app, ["addresses", "lookup", str(queries), "--out", str(out), *where])
    assert looked.exit_code == 0, looked.output
    answers = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(answers["id"]) == ["0", "1", "2"]
    assert list(answers["grid_code"]) == [table["expected_grid"][r] for _, r, _ in QUERIES[:3]]
    same = runner.invoke(app, ["addresses", "lookup", str(queries), "--out", str(queries), *where])
    assert same.exit_code == 2
    code = table["expected_grid"][0]
    listed = runner.invoke(app, ["addresses", "list", "--grid", code, *where])
    assert listed.exit_code == 0, listed.output
    assert "3 standard addresses" in listed.output
    bad = runner.invoke(app, ["addresses", "import", str(tmp_path / "missing.csv"), *where])
    assert bad.exit_code == 2
    assert "cannot read address CSV" in bad.output
