"""The administrative prefix of an address, read against a real list of division names.

``divisions.tsv`` (beside this module; built by ``data/prepare_divisions.py`` from the data the
``jionlp`` package ships, Apache-2.0, see data/README.md) lists the 34 provinces, 345
prefecture-level cities and 3,188 counties / districts with their GB/T 2260 codes and short
names, and the 43,103 township-level divisions (乡、镇、街道) of the statistical division
codes (统计用区划代码) under their county.

:func:`match_prefix` takes the longest chain of names at the start of a normalised address in
which each name lies inside the one before (``上海市黄浦区``, ``北京海淀``, ``江苏省南京市``,
``某县某镇``). A name counts only when it is a real division, so ``和平小区`` and ``幸福里小区``
(compounds) and ``园区路`` or ``新区大道`` (roads) are never read as districts, nor is a
real division name directly before a bare compound or road word (``和平区小区``, ``和平区路``:
the name of that compound or road). A short name
(``上海``, ``海淀``) counts only before another division inside it, or before a road or
compound name of at least three characters of its own (``上海南京东路`` yes; ``中山东一路``,
``南京西路`` and ``浦东大道`` no). After the
divisions, a name ending in 社区/居委会/村委会 is the community.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DIVISIONS_FILE: Final = Path(__file__).with_name("divisions.tsv")
LEVELS: Final = ("province", "city", "county", "town")
COMMUNITY: Final = re.compile(
    r"^(.{2,12}?(?:社区居委会|社区居民委员会|居委会|村委会|村民委员会|社区))"
)
#: The compound and road words that end a name after a division (a narrower list than the
#: parser's own, :mod:`gis.serving.addresses.parse`: here they only decide where a prefix ends).
AFTER_PREFIX_PLACE: Final = "小区|花园|新村|公寓|家园|大厦|广场|苑|园|城|村"
AFTER_PREFIX_ROAD: Final = "大道|大街|公路|胡同|路|街|巷"
NAME_SUFFIX: Final = re.compile(rf"^(.*?)({AFTER_PREFIX_PLACE})")
ROAD_SUFFIX: Final = re.compile(AFTER_PREFIX_ROAD)
BARE_WORD: Final = re.compile(rf"(?:{AFTER_PREFIX_PLACE}|{AFTER_PREFIX_ROAD}|弄)")
"""A compound or road word with no name of its own: what stands before it is that name
(``和平区小区``, ``和平区路``), not a division."""


@dataclass(frozen=True)
class Division:
    """One administrative division of the list."""

    level: str
    code: str
    name: str
    parent: str
    short: bool = False
    spelled: str = ""
    """How the address spells it (the short name, for a short match)."""

    @property
    def width(self) -> int:
        """Characters it takes in the address."""
        return len(self.spelled or self.name)

    @property
    def rank(self) -> int:
        """0 province … 3 town."""
        return LEVELS.index(self.level)


@dataclass(frozen=True, eq=False)
class DivisionList:
    """Division names by spelling, with each code's parent."""

    by_name: dict[str, tuple[Division, ...]]
    parent_of: dict[str, str]
    sizes: dict[str, tuple[int, ...]]
    """First character → the lengths of the names starting with it, longest first."""

    def ancestors(self, division: Division) -> frozenset[str]:
        """Codes of every division above ``division`` (and its own code)."""
        return _ancestors(self, division.code or division.parent)


@functools.lru_cache(maxsize=65536)
def _ancestors(divisions: DivisionList, code: str) -> frozenset[str]:
    seen = {code}
    while code in divisions.parent_of and divisions.parent_of[code] not in seen:
        code = divisions.parent_of[code]
        seen.add(code)
    seen.discard("")
    return frozenset(seen)


@functools.cache
def division_list(path: Path = DIVISIONS_FILE) -> DivisionList:
    """The shipped division list, read once."""
    by_name: dict[str, list[Division]] = {}
    parent_of: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            level, code, parent = row["level"], row["code"], row["parent"]
            if code and code != parent:
                parent_of.setdefault(code, parent)
            by_name.setdefault(row["name"], []).append(Division(level, code, row["name"], parent))
            short = row["short"]
            if short and len(short) >= 2 and level != "town":
                by_name.setdefault(short, []).append(
                    Division(level, code, row["name"], parent, short=True, spelled=short)
                )
    sizes: dict[str, set[int]] = {}
    for name in by_name:
        sizes.setdefault(name[0], set()).add(len(name))
    return DivisionList(
        {k: tuple(v) for k, v in by_name.items()},
        parent_of,
        {c: tuple(sorted(n, reverse=True)) for c, n in sizes.items()},
    )


Alternatives = tuple[Division, ...]
"""The divisions one spelling may mean at one level (宝山区: Shanghai's or Shuangyashan's)."""
TOWN_WORDS: Final = ("镇", "乡", "街道", "地区", "办事处", "苏木")


def _fits(found: Division, chain: list[Alternatives], divisions: DivisionList) -> bool:
    if not chain:
        return found.level != "town" or found.name.endswith(TOWN_WORDS)
    last = chain[-1]
    if found.rank <= last[0].rank:
        return False
    ancestors = divisions.ancestors(found)
    return any(d.code and d.code in ancestors for d in last)


def _own_name(rest: str) -> int:
    """Characters of a road's (else a compound's) own name at the start of ``rest``; -1 when
    no road or compound word follows."""
    road = ROAD_SUFFIX.search(rest)
    if road is not None:
        return road.start()
    named = NAME_SUFFIX.match(rest)
    return -1 if named is None else len(named.group(1))


def _short_ok(
    text: str, end: int, found: Division, chain: list[Alternatives], divisions: DivisionList
) -> bool:
    """A short name counts before another division inside it, or before a road or compound
    name of at least three characters of its own (two after a full division name); a short
    county name only after its province or city."""
    rest = text[end:]
    if not rest or (not chain and found.level not in ("province", "city")):
        return False  # 滨江光明嘉园, 海棠世纪名苑: compounds, not 滨江区 or 海棠区
    if _division_at(text, end, [*chain, (found,)], divisions) is not None:
        return True
    return _own_name(rest) >= (2 if chain else 3)


def _division_at(
    text: str, pos: int, chain: list[Alternatives], divisions: DivisionList
) -> tuple[Alternatives, int] | None:
    if pos >= len(text):
        return None
    for size in divisions.sizes.get(text[pos], ()):
        if pos + size > len(text):
            continue
        found = divisions.by_name.get(text[pos : pos + size])
        if not found:
            continue
        if BARE_WORD.fullmatch(text, pos + size):
            continue  # 和平区小区: the compound's name, not 天津市和平区
        fitting = sorted((d for d in found if _fits(d, chain, divisions)), key=lambda d: d.short)
        for division in fitting:
            if not division.short or _short_ok(text, pos + size, division, chain, divisions):
                same = tuple(
                    d for d in fitting if d.level == division.level and d.short == division.short
                )
                return same, pos + size
    return None


FIRST_DIGIT: Final = re.compile(r"\d")


def match_prefix(text: str) -> tuple[list[Alternatives], str, int]:
    """The divisions at the start of ``text``, its community name, and where the rest starts.

    Parameters
    ----------
    text
        A normalised address (:func:`gis.serving.addresses.text.normalize_address`).

    Returns
    -------
    tuple
        ``(divisions, community, end)``: the chain of divisions (province → town, each inside
        the one before; at each level the divisions the spelling may mean), the community
        name ('' when none) and the offset of the rest.

    Examples
    --------
    >>> chain, community, end = match_prefix("上海市黄浦区和平小区3栋")
    >>> [d[0].name for d in chain], "上海市黄浦区和平小区3栋"[end:]
    (['上海市', '黄浦区'], '和平小区3栋')
    >>> match_prefix("和平小区3栋")[0]
    []
    """
    hit = FIRST_DIGIT.search(text)
    head = text if hit is None else text[: hit.start()]
    chain, community, end = _match_head(head)
    return list(chain), community, end


@functools.lru_cache(maxsize=131072)
def _match_head(text: str) -> tuple[tuple[Alternatives, ...], str, int]:
    """:func:`match_prefix` of the text before the first digit (cached: rows share it)."""
    divisions = division_list()
    pos = 2 if text.startswith("中国") else 0
    chain: list[Alternatives] = []
    while True:
        found = _division_at(text, pos, chain, divisions)
        if found is None:
            break
        chain.append(found[0])
        pos = found[1]
    community = ""
    if chain and chain[-1][0].level in ("county", "town"):
        hit = COMMUNITY.match(text[pos:])
        if hit:
            community = hit.group(1)
            pos += len(community)
    return tuple(chain), community, pos
