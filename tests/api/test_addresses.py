"""Address lookups on a small standard-address table; importing it by CLI and by API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from service_helpers import Service
from typer.testing import CliRunner

from gis.commands.serve import register
from gis.store.addresses import open_registry


def import_table(service: Service, csv: Path) -> None:
    with service.client() as client:
        denied = client.post("/addresses", content=csv.read_bytes())
        assert denied.status_code == 401
        r = client.post(
            "/addresses",
            content=csv.read_bytes(),
            headers={"X-API-Key": "addr-key", "content-type": "text/csv"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == len(pd.read_csv(csv))


@pytest.fixture
def with_addresses(service: Service, address_csv: Path) -> Service:
    import_table(service, address_csv)
    return service


QUERIES = [  # (how a resident types it, row of the table it means)
    ("上海市黄浦区中山东一路10号1栋1单元100室", 0),  # exact
    ("中山东一路１０號１号楼１单元１００", 0),  # full-width, 號, 号楼, no 室, no prefix
    ("中山东一路10号2幢2单元200室", 1),  # 幢
    ("黃浦區中山東一路10號3棟3單元300室", 2),  # traditional characters
    ("南京东路12号2栋2-201", 4),  # unit-room shorthand
    ("九江路14号 三栋 三单元 302", 8),  # Chinese numerals, spaces
]


@pytest.mark.parametrize(("query", "row"), QUERIES)
def test_address_queries_find_the_right_address_and_grid(
    with_addresses: Service, address_csv: Path, query: str, row: int
) -> None:
    table = pd.read_csv(address_csv, dtype=str)
    with with_addresses.client() as client:
        r = client.get("/lookup/address", params={"q": query, "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    best = body["candidates"][0]
    assert best["address"] == table["address"][row]
    assert best["grid"]["grid_code"] == table["expected_grid"][row]
    scores = [c["score"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert best["score"] > scores[1]  # the right building/unit/room beats its neighbours


def test_address_errors(with_addresses: Service) -> None:
    with with_addresses.client() as client:
        assert client.get("/lookup/address", params={"q": ""}).status_code == 422
        r = client.get("/lookup/address", params={"q": "，。 "})
        assert r.status_code == 422
        assert "empty once normalised" in r.json()["detail"]
        bad = client.post(
            "/addresses",
            content=b"name,x\nfoo,1\n",
            headers={"X-API-Key": "addr-key", "content-type": "text/csv"},
        )
        assert bad.status_code == 422
        assert "needs columns address, lon, lat" in bad.json()["detail"]


def test_cli_imports_the_address_table(address_csv: Path, tmp_path: Path, pg_schema) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    for store, schema in (
        (str(tmp_path / "plans.gpkg"), "public"),
        (pg_schema.url, pg_schema.schema),
    ):
        if schema != "public":
            from gis.store import open_store  # noqa: PLC0415

            open_store(store, schema=schema).close()  # create the tables
        result = runner.invoke(
            app, ["addresses", "import", str(address_csv), "--store", store, "--schema", schema]
        )
        assert result.exit_code == 0, result.output
        assert "imported 48 addresses" in result.output
        registry = open_registry(store, schema=schema)
        table = registry.read_addresses()
        registry.close()
        assert len(table) == 48
        assert table["address"].iloc[0].startswith("上海市黄浦区中山东一路")
    bad = runner.invoke(
        app,
        ["addresses", "import", str(tmp_path / "missing.csv"), "--store", str(tmp_path / "x.gpkg")],
    )
    assert bad.exit_code != 0
    assert "cannot read address CSV" in bad.output
