"""Address normalisation and fuzzy ranking."""

from __future__ import annotations

import pandas as pd
import pytest

from gis.errors import AddressError
from gis.serving.addresses import AddressMatcher, components, normalize_address, read_address_table


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("上海市黄浦区中山东一路１２號３号楼二单元５０１", "中山东一路12号3栋2单元501室"),
        ("中山东一路12号 3幢 2-501", "中山东一路12号3栋2单元501室"),
        ("黄浦区中山东一路12号3座2单元501室", "中山东一路12号3栋2单元501室"),
        ("中山東一路12號3棟2單元501", "中山东一路12号3栋2单元501室"),
        ("中山东一路12号3-2-501", "中山东一路12号3栋2单元501室"),
        ("上海市中山东一路十二号", "中山东一路12号"),
        ("广东省深圳市南山区科技园路1号", "科技园路1号"),
        ("九江路8号501房", "九江路8号501室"),
    ],
)
def test_normalize_address(raw: str, normal: str) -> None:
    assert normalize_address(raw) == normal


def test_components() -> None:
    assert components("中山东一路12号3栋2单元501室") == {
        "door": "12",
        "building": "3",
        "unit": "2",
        "room": "501",
    }


TABLE = pd.DataFrame({
    "address": ["中山东一路12号3栋2单元501室", "中山东一路12号3栋2单元502室",
                "中山东一路12号4栋2单元501室", "中山东一路14号3栋2单元501室", "南京东路1号"],
    "lon": [121.49] * 5, "lat": [31.24] * 5,
})  # fmt: skip


def test_ranking_prefers_the_exact_building_unit_and_room() -> None:
    matcher = AddressMatcher(TABLE)
    ranked = matcher.search("上海市黄浦区中山东一路12號3号楼2单元501", limit=5)
    assert ranked[0] == (0, 100.0)
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert scores[1] < 100
    assert matcher.search("南京东路一号")[0][0] == 4
    with pytest.raises(AddressError, match="empty once normalised"):
        matcher.search("  ，")


def test_address_table_is_checked_and_converted() -> None:
    out = read_address_table(TABLE, crs="gcj02")
    assert out["lon"].iloc[0] != 121.49  # converted to WGS 84
    with pytest.raises(AddressError, match="needs columns address, lon, lat"):
        read_address_table(TABLE.drop(columns="lat"))
    bad = TABLE.assign(lon=["x", 1, 1, 1, 1])
    with pytest.raises(AddressError, match="row 0"):
        read_address_table(bad)
