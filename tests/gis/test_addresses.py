"""Address normalisation, parsing, the division prefix, matching and its answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gis.errors import AddressError
from gis.serving.addresses import (
    AddressMatcher,
    address_keys,
    normalize_address,
    parse_address,
    read_address_table,
)
from gis.serving.addresses.divisions import division_list, match_prefix
from gis.store.addresses import SqliteRegistry


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (
            "上海市黄浦区中山东一路１２號３号楼二单元５０１",
            "上海市黄浦区中山东一路12号3栋2单元501室",
        ),
        ("中山东一路12号 3幢 2-501", "中山东一路12号3栋2单元501室"),
        ("中山東一路12號3棟2單元501", "中山东一路12号3栋2单元501室"),
        ("中山东一路12号3-2-501", "中山东一路12号3栋2单元501室"),
        ("上海市中山东一路十二号", "上海市中山东一路12号"),
        ("九江路8号501房", "九江路8号501室"),
        ("和平小区3号楼2单元1201", "和平小区3栋2单元1201室"),
        ("和平小区 3 2 1201", "和平小区3栋2单元1201室"),
        ("3#楼2门101", "3栋2单元101室"),
        ("A座1203", "A栋1203室"),
        ("一百零一室", "101室"),
        ("幸福里小区", "幸福里小区"),
        ("园区路5号", "园区路5号"),
        ("新区大道8号", "新区大道8号"),
    ],
)
def test_normalize_keeps_every_name(raw: str, normal: str) -> None:
    assert normalize_address(raw) == normal
    assert normalize_address(normal) == normal


@pytest.mark.parametrize(
    ("text", "road", "door", "place"),
    [
        ("和平小区3号楼2单元1201", "", "", "和平小区"),  # not 和平区 + 小区
        ("幸福里小区", "", "", "幸福里小区"),
        ("园区路5号", "园区路", "5号", ""),
        ("新区大道8号", "新区大道", "8号", ""),
        ("幸福路康乐苑3栋2单元501", "幸福路", "", "康乐苑"),
        ("中山路小区3栋", "", "", "中山路小区"),
        ("上海市黄浦区中山东一路12号和平小区3号楼", "中山东一路", "12号", "和平小区"),
        ("滨海新区3栋2单元501室", "", "", "滨海新区"),  # a compound named like a district
        ("北新村3组15号", "", "15号", "北新村3组"),
        ("和平区小区3号楼2单元101室", "", "", "和平区小区"),  # 天津市和平区 is real; not here
        ("天津市和平区小区3栋", "", "", "和平区小区"),
        ("和平区路5号", "和平区路", "5号", ""),
        ("天津市和平区南京路5号", "南京路", "5号", ""),  # the county still counts before a road
    ],
)
def test_parse_never_drops_a_road_or_compound(text: str, road: str, door: str, place: str) -> None:
    parts = parse_address(text)
    assert (parts.road, parts.door, parts.place) == (road, door, place)


def test_parse_reads_parts_and_the_real_prefix() -> None:
    p = parse_address("上海市黄浦区中山东一路12号和平小区3号楼2单元5楼501")
    assert (p.province, p.county, p.building, p.unit, p.floor, p.room) == (
        "上海市", "黄浦区", "3", "2", "5", "501",
    )  # fmt: skip
    assert p.admin == "310101/"
    assert parse_address("北京海淀中关村大街1号").county == "海淀区"
    assert parse_address("中山东一路12号").city == ""  # 中山 (the city) not taken from a road
    assert parse_address("滨江光明嘉园4号楼").county == ""  # nor 滨江 from a compound
    two = parse_address("宝山区友谊路1号").admin_code.split(",")
    assert len(two) == 2  # 宝山区 is in Shanghai and in Shuangyashan


def test_division_list_is_real() -> None:
    divisions = division_list()
    assert {d.code for d in divisions.by_name["黄浦区"]} == {"310101"}
    assert any(d.level == "town" for d in divisions.by_name["南京东路街道"])
    chain, _, _ = match_prefix("天津市和平区南京路1号")
    assert [d[0].name for d in chain] == ["天津市", "和平区"]
    assert match_prefix("和平小区3栋")[0] == []


TABLE = pd.DataFrame({
    "address": [
        "上海市黄浦区中山东一路12号和平小区3号楼2单元501室",
        "上海市黄浦区中山东一路12号和平小区3号楼2单元502室",
        "上海市黄浦区中山东一路12号和平小区4号楼2单元501室",
        "上海市黄浦区幸福路88号和平小区3号楼2单元501室",
        "上海市黄浦区幸福路90号康乐苑1号楼1单元101室",
        "上海市黄浦区园区路5号",
        "上海市徐汇区新区大道8号幸福里小区2号楼1单元301室",
    ],
    "lon": [121.49, 121.49, 121.491, 121.48, 121.481, 121.47, 121.43],
    "lat": [31.24] * 7,
})  # fmt: skip


@pytest.fixture
def matcher(tmp_path: Path) -> AddressMatcher:
    registry = SqliteRegistry(tmp_path / "r.registry.sqlite")
    table = read_address_table(TABLE)
    registry.import_addresses(table, address_keys(table), replace=True)
    return AddressMatcher(registry)


@pytest.mark.parametrize(
    ("query", "match", "row"),
    [
        ("中山东一路12号和平小区3栋2单元501室", "exact", 0),
        ("黃浦區中山東一路１２號３號樓２單元５０１", "exact", 0),
        ("中山东一路12号3-2-502", "exact", 1),
        ("中山冬一路12号和平小区3栋2单元501", "probable", 0),  # a typo in the road
        ("幸福路康乐苑1栋1单元101", "exact", 4),  # two compounds on 幸福路, no door
        ("幸福里小区2栋1单元301", "exact", 6),  # a compound ending in 区
        ("园区路5号", "exact", 5),
        ("新区大道8号幸福里小区2号楼1单元301", "exact", 6),
    ],
)
def test_answers_say_how_sure(matcher: AddressMatcher, query: str, match: str, row: int) -> None:
    answer = matcher.lookup(query)
    assert answer.match == match
    assert answer.best is not None
    assert answer.best.row["address"] == TABLE["address"][row]


def test_two_compounds_of_one_name_are_ambiguous(matcher: AddressMatcher) -> None:
    answer = matcher.lookup("和平小区3号楼2单元501")
    assert answer.match == "ambiguous"
    assert {c.row["address"] for c in answer.answer} == {TABLE["address"][0], TABLE["address"][3]}
    assert matcher.lookup("幸福路和平小区3号楼2单元501").match == "exact"


def test_one_village_address_in_two_districts_is_ambiguous(tmp_path: Path) -> None:
    # the same name, 组 and door number below two prefixes: one exact key, two places
    table = read_address_table(pd.DataFrame({
        "address": ["上海市宝山区华亭村4组1号", "上海市浦东新区花木街道华亭村4组1号"],
        "lon": [121.40, 121.55], "lat": [31.35, 31.20],
    }))  # fmt: skip
    registry = SqliteRegistry(tmp_path / "v.registry.sqlite")
    registry.import_addresses(table, address_keys(table), replace=True)
    matcher = AddressMatcher(registry)
    answer = matcher.lookup("华亭村4组1号")
    assert answer.match == "ambiguous"
    assert len(answer.answer) == 2
    assert matcher.lookup("宝山区华亭村4组1号").match == "exact"


@pytest.mark.parametrize(
    "query",
    [
        "中山东一路14号和平小区3栋2单元501室",  # no such door
        "中山东一路12号和平小区3栋2单元509室",  # no such room
        "中山东一路12号和平小区7栋2单元501室",  # no such building
        "徐汇区中山东一路12号和平小区3栋2单元501室",  # the wrong district
    ],
)
def test_a_differing_number_is_never_accepted(matcher: AddressMatcher, query: str) -> None:
    answer = matcher.lookup(query)
    assert answer.match == "none"
    assert answer.best is None
    assert answer.candidates
    assert answer.candidates[0].disagreed


def test_empty_query_is_refused(matcher: AddressMatcher) -> None:
    with pytest.raises(AddressError, match="empty once normalised"):
        matcher.lookup("  ，")


def test_address_table_is_checked_and_converted() -> None:
    out = read_address_table(TABLE, crs="gcj02")
    assert out["lon"].iloc[0] != 121.49  # converted to WGS 84
    with pytest.raises(AddressError, match="needs columns address, lon, lat"):
        read_address_table(TABLE.drop(columns="lat"))
    with pytest.raises(AddressError, match="row 0"):
        read_address_table(TABLE.assign(lon=["x", *[1] * 6]))
    with pytest.raises(AddressError, match=r"row 1 .*out of range"):
        read_address_table(TABLE.assign(lon=[121.0, 999.0, *[121.0] * 5]))
    with pytest.raises(AddressError, match=r"out of range"):
        read_address_table(TABLE.assign(lat=[-400.0] * 7))
    with pytest.raises(AddressError, match="no rows"):
        read_address_table(TABLE.iloc[:0])
    assert read_address_table(TABLE.iloc[:0], allow_empty=True).empty
