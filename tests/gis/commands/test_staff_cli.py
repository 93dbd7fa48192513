"""``wangge staff import | report`` on each store, run as a user runs them: a good roster
stored (posts on grids, a cell and units; the ID column dropped), a bad one refused with one
line per problem and nothing stored, the history read as of a past time, the report's
figures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pytest
from cli_helpers import wangge
from shapely.geometry import box
from typer.testing import CliRunner

from gis.cli import app
from gis.store import open_store
from gis.store.addresses import open_registry

COMMUNITY, TOWN = "310101002001", "310101002"
X0, Y0 = 121.49, 31.23
HOUSEHOLDS = {"G1": 400, "G2": 350, "G3": 500, "D1": 0}


def resident_id(body: str) -> str:
    """A well-formed resident ID (GB 11643 check character appended)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


ID_A, ID_B = resident_id("31010119900101123"), resident_id("31010119850505432")
GOOD = (
    "grid_code,cell_code,unit_code,name,role,phone,duty,身份证号\n"
    f"G1,,,张三,网格员,13800000001,专职,{ID_A}\n"
    f"G2,,,张三,网格员,13800000001,专职,{ID_A}\n"
    f"G3,,,李四,兼職網格員,13800000002,,{ID_B}\n"
    ",G1-01,,赵微,微网格员,13800000004,,\n"
    f",,{COMMUNITY},孙书记,社区书记,021-12345678,,\n"
    f",,{TOWN},吴主任,街道办事处主任,021-63210000,,\n"
)


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """A store (of each kind) holding a 2×2 plan with a dedicated grid, two unit cells, a
    community and its town; the ``--store`` (and ``--schema``) arguments naming it."""
    cells = 0.002
    grids = gpd.GeoDataFrame(
        {"grid_code": list(HOUSEHOLDS), "households": list(HOUSEHOLDS.values()),
         "kind": ["ordinary"] * 3 + ["dedicated"], "parent_code": [COMMUNITY] * 4,
         "parent_name": ["外滩社区"] * 4},
        geometry=[box(X0 + c * cells, Y0 + r * cells, X0 + (c + 1) * cells, Y0 + (r + 1) * cells)
                  for r in range(2) for c in range(2)],
        crs="EPSG:4326",
    )  # fmt: skip
    g1 = grids.geometry.iloc[0].bounds
    half = (g1[0] + g1[2]) / 2
    cell_layer = gpd.GeoDataFrame(
        {"cell_code": ["G1-01", "G1-02"], "grid_code": ["G1", "G1"], "households": [200, 200]},
        geometry=[box(g1[0], g1[1], half, g1[3]), box(half, g1[1], g1[2], g1[3])],
        crs="EPSG:4326",
    )
    outline = box(X0, Y0, X0 + 2 * cells, Y0 + 2 * cells)
    units = gpd.GeoDataFrame(
        {"unit_code": [COMMUNITY, TOWN], "unit_name": ["外滩社区", "外滩街道"],
         "level": ["community", "town"], "parent_code": [TOWN, None]},
        geometry=[outline, outline], crs="EPSG:4326",
    )  # fmt: skip
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        args = ["--store", pg.url, "--schema", pg.schema]
        store = open_store(pg.url, schema=pg.schema)
    else:
        args = ["--store", str(tmp_path / "st.gpkg")]
        store = open_store(tmp_path / "st.gpkg")
    with store:
        store.publish(grids, author="tests", units=units, cells=cell_layer)
    return args


def in_process(*args: object) -> tuple[int, str]:
    """``wangge *args`` in this process (the commands the first run already proved in a child
    process), its exit code and output."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def read_staff(args: list[str], as_of: datetime | None = None) -> list[tuple[str, ...]]:
    """(post, name, role, duty) of the stored roster, read as the library reads it."""
    schema = args[3] if len(args) > 2 else "public"
    registry = open_registry(args[1], schema=schema)
    try:
        table = registry.read_staff(as_of=as_of)
    finally:
        registry.close()
    return [
        (r["grid_code"] or r["cell_code"] or r["unit_code"], r["name"], r["role"], r["duty"] or "")
        for r in table.to_dict("records")
    ]


def test_a_roster_is_imported_reported_and_its_history_kept(
    store_args: list[str], tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(GOOD, encoding="utf-8")
    done = wangge("staff", "import", roster, *store_args)
    assert done.returncode == 0, done.stderr
    assert "6 added, 0 closed" in done.stdout
    first = read_staff(store_args)
    assert sorted(first) == sorted([
        ("G1", "张三", "worker", "full_time"), ("G2", "张三", "worker", "full_time"),
        ("G3", "李四", "worker", "part_time"), ("G1-01", "赵微", "micro_worker", ""),
        (COMMUNITY, "孙书记", "community_secretary", ""), (TOWN, "吴主任", "town_head", ""),
    ])  # fmt: skip
    code, output = in_process("staff", "report", "--json", *store_args)
    assert code == 0, output
    figures = json.loads(output)
    assert figures["grids"] == 4
    assert figures["without_worker"] == [{"grid_code": "D1", "kind": "dedicated", "households": 0}]
    assert figures["holders"] == [
        {"name": "张三", "phone": "13800000001", "grids": ["G1", "G2"], "households": 750}
    ]
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    roster.write_text(
        "grid_code,name,role,phone\nG3,王五,网格员,13800000005\nD1,钱六,网格员,13800000006\n",
        encoding="utf-8",
    )
    code, output = in_process("staff", "import", roster, *store_args)
    assert code == 0, output
    assert "2 added, 1 closed (kept in the history), 0 unchanged" in " ".join(output.split())
    now = read_staff(store_args)
    assert ("G3", "王五", "worker", "") in now
    assert ("G3", "李四", "worker", "part_time") not in now
    assert ("G1", "张三", "worker", "full_time") in now  # posts the file does not name: kept
    assert sorted(read_staff(store_args, as_of=between)) == sorted(first)
    roster.write_text("grid_code,name,role,phone\nG1,张三,网格员,13800000001\n", encoding="utf-8")
    code, output = in_process("staff", "import", roster, "--replace", *store_args)
    assert code == 0, output
    assert read_staff(store_args) == [("G1", "张三", "worker", "")]  # the rest closed
    assert len(read_staff(store_args, as_of=between)) == len(first)
    stored = open_registry(store_args[1], schema=store_args[3] if len(store_args) > 2 else "public")
    try:
        text = stored.read_staff().to_csv() + stored.read_staff(as_of=between).to_csv()
    finally:
        stored.close()
    assert ID_A not in text
    assert ID_B not in text


def test_a_bad_roster_is_refused_row_by_row_and_nothing_is_stored(
    store_args: list[str], tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        GOOD
        + "G2,,,周八,emperor,13800000008,,\n"  # unknown role
        + "Z9,,,郑九,网格员,13800000009,,\n"  # unknown grid
        + f"G3,,,张叁,网格员,13800000003,,{ID_A}\n"  # 张三's ID given to another name
        + ",Z9-01,,冯十,楼栋长,13800000010,,\n",  # unknown cell
        encoding="utf-8",
    )
    done = wangge("staff", "import", roster, *store_args)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert [line.split(":")[1].strip() for line in lines[:4]] == [
        "roster line 8 (周八)", "roster line 9 (郑九)", "roster line 10 (张叁)",
        "roster line 11 (冯十)",
    ]  # fmt: skip
    assert "unknown role 'emperor'" in lines[0]
    assert "grid 'Z9' does not exist" in lines[1]
    assert "duplicate ID number" in lines[2]
    assert "cell 'Z9-01' does not exist" in lines[3]
    assert lines[4] == f"nothing was stored: 4 problems in {roster}"
    assert ID_A not in done.stderr
    assert read_staff(store_args) == []
