"""An address split into its parts (GB/T 39609: region → road/compound → building → room).

:func:`parse_address` reads a normalised address left to right:

1. the administrative prefix, matched against the real division list
   (:mod:`gis.serving.addresses.divisions`), and a community name (…社区/居委会);
2. number parts: door (``12号``, ``12弄3号``, ``12-1号``), building (``3栋``, ``A10栋``), unit
   (``2单元``), floor (``5层``), room (``501室``);
3. every other run of text is a name. Before the door it is the road when it ends in a road
   word (路/街/大道/大街/巷/弄/公路/胡同/道); a road word followed by a name of its own splits
   road from compound (``幸福路康乐苑`` → road ``幸福路``, compound ``康乐苑``, but
   ``中山路小区`` stays one compound); otherwise it is the compound or place. After the door it
   is the compound (``中山东一路12号和平小区``); after the building it is kept as ``extra``.

No text is dropped: every character of the normalised address is in exactly one part.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Final

from gis.serving.addresses.divisions import match_prefix
from gis.serving.addresses.text import BUILDING_ID, normalize_address

NUMBER_PART: Final = re.compile(
    r"(?P<door>\d+弄(?:\d+支弄)?(?:\d+号)?|\d+(?:-\d+)?号(?:之\d+)?)"
    rf"|(?P<building>{BUILDING_ID})栋"
    r"|(?P<unit>\d+)单元"
    r"|(?P<floor>-?\d+)层"
    r"|(?P<room>[A-Z]?\d+[A-Z]?)室"
)
ROAD_WORDS: Final = ("大道", "大街", "公路", "胡同", "环路", "路", "街", "巷", "弄", "道")
ROAD_WORD: Final = re.compile("|".join(ROAD_WORDS))
GENERIC: Final = re.compile(
    r"^(?:小区|花园|新村|公寓|家园|苑|园|城|大厦|广场|社区|宿舍|大楼|"
    r"[东西南北中]区|[东西南北中]苑|\d+期|\d+区|\d+号院|院)+$"
)
NUMBER_FIELDS: Final = ("door", "building", "unit", "floor", "room")
ADMIN_FIELDS: Final = ("province", "city", "county", "town", "community")


@dataclass(frozen=True)
class AddressParts:
    """The parts of one address; '' where the address has none.

    ``admin_code`` is the code of the deepest division found (GB/T 2260, 6 digits; a town
    has its county's code), or the codes it may be, comma-separated (宝山区 is in Shanghai
    and in Shuangyashan). Names are normalised (:func:`normalize_address`); numbers are
    the bare numbers (``door`` keeps its 号/弄 words: ``12号``, ``12弄3号``).
    """

    province: str = ""
    city: str = ""
    county: str = ""
    town: str = ""
    community: str = ""
    admin_code: str = ""
    road: str = ""
    door: str = ""
    place: str = ""
    building: str = ""
    unit: str = ""
    floor: str = ""
    room: str = ""
    extra: str = ""

    @property
    def body(self) -> str:
        """Everything below the administrative prefix, floor left out: the exact-match key."""
        return "".join((
            self.road, self.door, self.place, f"{self.building}栋" if self.building else "",
            f"{self.unit}单元" if self.unit else "", f"{self.room}室" if self.room else "",
            self.extra,
        ))  # fmt: skip

    @property
    def admin(self) -> str:
        """``codes/town`` of the deepest division (the key used to compare prefixes): the
        significant digits of each division the prefix may mean, comma-separated."""
        if not self.admin_code:
            return ""
        codes = ",".join(sorted({significant(c) for c in self.admin_code.split(",")}))
        return f"{codes}/{self.town}"

    def given(self) -> dict[str, str]:
        """The parts this address has."""
        return {k: v for k, v in asdict(self).items() if v and k != "admin_code"}

    def names(self) -> list[str]:
        """The road and compound names (what fuzzy matching compares)."""
        return [n for n in (self.road, self.place) if n]


def significant(code: str) -> str:
    """The digits of a GB/T 2260 code that name it: ``310000`` → ``31``, ``310101`` → same."""
    code = code.rstrip()
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _split_road(text: str, door_follows: bool) -> tuple[str, str]:
    """``(road, place)`` of the text before the door (see the module docstring)."""
    for hit in ROAD_WORD.finditer(text):
        end = hit.end()
        if hit.group(0) == "道" and text[hit.start() - 1 : hit.start()] == "街":
            continue  # 街道: a street office, not a road
        rest = text[end:]
        if end - len(hit.group(0)) >= 1 and len(rest) >= 2 and not GENERIC.match(rest):
            return text[:end], rest
    if text.endswith(ROAD_WORDS) and (door_follows or len(text) >= 2):
        return text, ""
    return "", text


def _read_body(text: str) -> dict[str, str]:
    """Road, door, place, numbers and extra of the text after the administrative prefix."""
    parts: dict[str, str] = {}
    pieces: list[tuple[str, str]] = []  # (kind, text) in order
    pos = 0
    for hit in NUMBER_PART.finditer(text):
        kind = hit.lastgroup or ""
        if kind in parts:  # a second building (or door…) is not a part: keep it as text
            continue
        if hit.start() > pos:
            pieces.append(("text", text[pos : hit.start()]))
        value = hit.group(kind)
        parts[kind] = value
        pieces.append((kind, hit.group(0)))
        pos = hit.end()
    if pos < len(text):
        pieces.append(("text", text[pos:]))
    place, extra = [], []
    seen_number = False
    for i, (kind, piece) in enumerate(pieces):
        if kind != "text":
            seen_number = seen_number or kind != "door"
            continue
        if seen_number:
            extra.append(piece)
        elif "door" not in parts or i < next(k for k, p in enumerate(pieces) if p[0] == "door"):
            door_next = i + 1 < len(pieces) and pieces[i + 1][0] == "door"
            road, name = _split_road(piece, door_next)
            parts["road"] = parts.get("road", "") + road
            if name:
                place.append(name)
        else:
            place.append(piece)
    parts["place"] = "".join(place)
    parts["extra"] = "".join(extra)
    return parts


def parse_address(text: str, *, normalized: bool = False) -> AddressParts:
    """The parts of an address (see the module docstring).

    Parameters
    ----------
    text
        The address as written, or already normalised (``normalized=True``).
    normalized
        Skip :func:`normalize_address`.

    Examples
    --------
    >>> p = parse_address("上海市黄浦区中山东一路12号和平小区3号楼2单元501")
    >>> p.county, p.road, p.door, p.place, p.building, p.unit, p.room
    ('黄浦区', '中山东一路', '12号', '和平小区', '3', '2', '501')
    >>> parse_address("幸福里小区5栋").place
    '幸福里小区'
    """
    s = text if normalized else normalize_address(text)
    chain, community, end = match_prefix(s)
    body = _read_body(s[end:])
    while (
        chain and not (body.get("road") or body.get("place")) and not community and (len(s) > end)
    ):  # a compound named like a division (滨海新区3栋): the name is the compound's
        end -= chain.pop()[0].width
        body = _read_body(s[end:])
    admin = {d[0].level: d[0].name for d in chain}
    deepest = next((d for d in reversed(chain) if any(x.code or x.parent for x in d)), ())
    code = ",".join(sorted({x.code or x.parent for x in deepest} - {""}))
    return AddressParts(
        province=admin.get("province", ""), city=admin.get("city", ""),
        county=admin.get("county", ""), town=admin.get("town", ""), community=community,
        admin_code=code, **body,
    )  # fmt: skip


PART_FIELDS: Final = tuple(f.name for f in fields(AddressParts))
