"""Chinese address normalisation and fuzzy matching against the standard-address table.

Free-text addresses reach the service in many spellings of the same place: full-width digits
(１２号), traditional characters (號, 棟, 單元), "3号楼", "3幢", "3栋" and "3座" for one
building, "3-2-501" shorthand, and city / district prefixes the table does not repeat.
:func:`normalize_address` maps them all to one form::

    上海市黄浦区中山东一路１２號３号楼二单元５０１  →  中山东一路12号3栋2单元501室

:class:`AddressMatcher` ranks table entries against a query: a character-level fuzzy score
(rapidfuzz ``WRatio`` on the normalised strings), minus penalties when a building, unit, room
or door number given in the query differs from the candidate's. Scores are 0–100.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from gis.errors import AddressError
from gis.geometry.coords import to_wgs84

TRADITIONAL: Final = str.maketrans({
    "號": "号", "棟": "栋", "單": "单", "區": "区", "門": "门", "樓": "楼", "縣": "县",
    "鎮": "镇", "鄉": "乡", "村": "村", "莊": "庄", "會": "会", "灣": "湾", "東": "东",
    "總": "总", "廣": "广", "場": "场", "園": "园", "貳": "二", "壹": "一", "參": "三",
})  # fmt: skip
CN_DIGITS: Final = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                    "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
CN_NUMBER: Final = re.compile(r"[零〇一二两三四五六七八九十]+(?=(号|栋|单元|室|层|楼|幢|座|弄|门))")
PREFIX: Final = re.compile(
    r"^(中国)?([^路街道巷弄号栋]{1,6}?(省|自治区))?([^路街道巷弄号栋]{1,6}?市)?"
    r"([^路街道巷弄号栋市]{1,6}?(区|县))?"
)
SHORTHAND: Final = re.compile(r"(\d+)-(\d+)-(\d+)$")
COMPONENT: Final = {
    "door": re.compile(r"(\d+)号(?!楼)"),
    "building": re.compile(r"(\d+)栋"),
    "unit": re.compile(r"(\d+)单元"),
    "room": re.compile(r"(\d+)室"),
}
PENALTY: Final = {"door": 20.0, "building": 20.0, "unit": 12.0, "room": 15.0}
MISSING_PENALTY: Final = 4.0
ADDRESS_COLUMNS: Final = (
    "address", "region", "street", "compound", "door_number", "building", "unit", "room",
    "building_id",
)  # fmt: skip


def _cn_to_int(text: str) -> int:
    if "十" not in text:
        return int("".join(str(CN_DIGITS[c]) for c in text))
    tens, _, ones = text.partition("十")
    return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[ones] if ones else 0)


def normalize_address(text: str) -> str:
    """One canonical spelling of a Chinese address (see the module docstring).

    Examples
    --------
    >>> normalize_address("上海市黄浦区中山东一路１２號３号楼二单元５０１")
    '中山东一路12号3栋2单元501室'
    >>> normalize_address("中山东一路12号 3幢 2-501")
    '中山东一路12号3栋2单元501室'
    """
    s = unicodedata.normalize("NFKC", str(text)).translate(TRADITIONAL)
    s = re.sub(r"[\s,，、。·\.#/]+", "", s)
    s = CN_NUMBER.sub(lambda m: str(_cn_to_int(m.group(0))), s)
    s = PREFIX.sub("", s, count=1)
    s = re.sub(r"(\d+)(号楼|号栋|幢|座|楼(?!\d*层))", r"\1栋", s)
    s = re.sub(r"(\d+)(门)(?=\d)", r"\1单元", s)
    s = re.sub(r"(\d+)栋(\d+)-(\d+)$", r"\1栋\2单元\3室", s)
    s = re.sub(r"(\d+)栋-?(\d+)$", r"\1栋\2室", s)
    s = SHORTHAND.sub(r"\1栋\2单元\3室", s)
    s = re.sub(r"(\d+)-(\d+)$", r"\1单元\2室", s) if "栋" in s else s
    s = re.sub(r"(\d+)(号房|房)$", r"\1室", s)
    s = re.sub(r"单元(\d+)$", r"单元\1室", s)
    return s.replace("-", "")


def components(normalized: str) -> dict[str, str]:
    """Door, building, unit and room numbers found in a normalised address."""
    out = {}
    for name, pattern in COMPONENT.items():
        found = pattern.findall(normalized)
        if found:
            out[name] = found[-1]
    return out


def read_address_table(frame: pd.DataFrame, *, crs: str = "wgs84") -> pd.DataFrame:
    """The standard-address table from a CSV-like frame, points converted to WGS 84.

    Parameters
    ----------
    frame
        Columns ``address`` and ``lon``/``lat`` (or ``x``/``y``), optionally region, street,
        compound, door_number, building, unit, room, building_id.
    crs
        CRS of the coordinates (wgs84, cgcs2000, gcj02, bd09, EPSG:nnnn).

    Raises
    ------
    AddressError
        Missing columns, empty addresses or coordinates that are not numbers.
    """
    cols = {str(c).strip().lower(): c for c in frame.columns}
    x_name = next((cols[c] for c in ("lon", "lng", "longitude", "x") if c in cols), None)
    y_name = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
    if "address" not in cols or x_name is None or y_name is None:
        msg = f"address table needs columns address, lon, lat; columns seen: {list(frame.columns)}"
        raise AddressError(msg)
    out = pd.DataFrame({c: frame[cols[c]] if c in cols else None for c in ADDRESS_COLUMNS})
    out["address"] = out["address"].astype(str).str.strip()
    empty = out["address"].isin(["", "nan", "None"])
    if empty.any():
        raise AddressError(f"address table row {int(np.flatnonzero(empty)[0])} has no address")
    x = pd.to_numeric(frame[x_name], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(frame[y_name], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"address table row {i} ({out['address'].iloc[i]}): coordinates are not numbers"
        raise AddressError(msg)
    lon, lat = to_wgs84(x, y, crs)
    out["lon"], out["lat"] = lon, lat
    return out


def read_address_csv(path: str | Path, *, crs: str = "wgs84") -> pd.DataFrame:
    """:func:`read_address_table` of a UTF-8 CSV file (BOM accepted)."""
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError) as exc:
        raise AddressError(f"cannot read address CSV {path}: {exc}") from exc
    return read_address_table(frame, crs=crs)


class AddressMatcher:
    """Rank standard addresses against free-text queries.

    Parameters
    ----------
    table
        The address table (``address``, ``lon``, ``lat``, …), e.g. from the registry.
    """

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table.reset_index(drop=True)
        self.normalized = [normalize_address(a) for a in self.table["address"].astype(str)]
        self._parts = [components(n) for n in self.normalized]

    def search(self, query: str, *, limit: int = 5) -> list[tuple[int, float]]:
        """Best ``limit`` rows as ``(row position, score 0–100)``, best first.

        Raises
        ------
        AddressError
            When the query is empty once normalised.
        """
        q = normalize_address(query)
        if not q:
            raise AddressError(f"address query {query!r} is empty once normalised")
        if not self.normalized:
            return []
        from rapidfuzz import fuzz, process  # noqa: PLC0415 - an optional (api) dependency

        pool = process.extract(q, self.normalized, scorer=fuzz.WRatio, limit=max(50, limit * 10))
        wanted = components(q)
        scored = []
        for _, base, i in pool:
            score = float(base)
            have = self._parts[i]
            for name, value in wanted.items():
                if name not in have:
                    score -= MISSING_PENALTY
                elif have[name] != value:
                    score -= PENALTY[name]
            if q == self.normalized[i]:
                score = 100.0
            scored.append((int(i), max(0.0, min(100.0, score))))
        scored.sort(key=lambda t: (-t[1], t[0]))
        return scored[:limit]
