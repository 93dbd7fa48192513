"""Grid staff rosters: who serves which grid, unit cell or unit, checked against "one grid, one
worker" (一格一员), with the escalation contacts of communities and towns
(小事不出网格、大事逐级上报).

A roster is a CSV with ``name``, ``role``, ``phone``, optionally ``duty`` and ``photo`` (a
path or an http(s) URL), and on each row exactly one of ``grid_code``, ``cell_code`` or
``unit_code``: what the person serves. Roles may be given in English, Simplified or
Traditional Chinese (full-width characters too):

=======================  ==============  ===============  ====================================
role                     中文            serves           who
=======================  ==============  ===============  ====================================
``leader``               网格长          grid, unit       leads a group of grids
``worker``               网格员          grid             the grid's own worker (专职 or 兼职)
``instructor``           网格指导员      grid, unit       guides from the street office
``assistant``            网格辅助员      grid, cell       helps the worker
``micro_worker``         微网格员        cell             the worker of a micro-grid (微网格)
``cell_informant``       单元格信息员    cell             reports from a unit cell (单元格)
``building_head``        楼栋长          cell, grid       one building's head
``community_secretary``  社区（村）书记  unit: community  escalation contact of a community
``community_director``   社区（村）主任  unit: community  escalation contact of a community
``town_secretary``       街道（镇）书记  unit: town       escalation contact of a town
``town_head``            街道主任（镇长）unit: town       escalation contact of a town
=======================  ==============  ===============  ====================================

专职 (full-time) and 兼职 (part-time) grid workers are **one role with a duty**
(``duty``: ``full_time`` / ``part_time``), not two roles: both are the grid's own worker, so
一格一员, the report of grids without a worker and a worker's household load count either;
专职/兼职 is how the post is staffed, not a different post. ``专职网格员`` as a role is read as
worker + full_time, and the label prints it so (``role_label``).

Private fields are never kept: an ID-number column (``id_number``, ``身份证号``…) may be
present for real-name registration (实名登记) and is checked — a well-formed resident ID
(GB 11643), one person per ID, no post listed twice for one person — and then dropped. No
hash of it is stored either: the check needs only the file at hand, and an 18-digit ID of
known structure hashed, even salted, is found again by trying every ID of a region and
birth year, so a hash would be personal data all the same. Only the public-notice fields
(:data:`PUBLIC_FIELDS`) leave :func:`check_roster`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from gis import columns as col
from gis.errors import RosterError, RosterProblems

TARGETS: Final = (col.GRID_CODE, "cell_code", col.UNIT_CODE)
"""The columns naming what a person serves: exactly one per row."""
SERVES: Final = {col.GRID_CODE: "grid", "cell_code": "cell", col.UNIT_CODE: "unit"}
TOWN_LEVELS: Final = frozenset({"town", "street", "township", "subdistrict"})


@dataclass(frozen=True)
class Role:
    """One staff role: its label (Simplified), English name, what it may serve, and the
    Chinese names accepted for it (Simplified; Traditional is mapped to these)."""

    label: str
    english: str
    serves: tuple[str, ...]
    names: tuple[str, ...] = ()
    level: str | None = None  # "community" or "town" for the units' contacts


ROLE_SET: Final = {
    "leader": Role("网格长", "grid leader", ("grid", "unit"), ("网格长",)),
    "worker": Role("网格员", "grid worker", ("grid",), ("网格员", "专职网格员", "兼职网格员")),
    "instructor": Role("网格指导员", "instructor", ("grid", "unit"), ("网格指导员",)),
    "assistant": Role("网格辅助员", "assistant", ("grid", "cell"), ("网格辅助员", "网格协管员")),
    "micro_worker": Role("微网格员", "micro-grid worker", ("cell",), ("微网格员",)),
    "cell_informant": Role(
        "单元格信息员", "cell informant", ("cell",), ("单元格信息员", "单元信息员")
    ),
    "building_head": Role("楼栋长", "building head", ("cell", "grid"), ("楼栋长", "楼长")),
    "community_secretary": Role(
        "社区（村）书记", "community secretary", ("unit",),
        ("社区书记", "社区党组织书记", "社区党委书记", "村书记", "村党组织书记", "村党支部书记"),
        "community",
    ),
    "community_director": Role(
        "社区（村）主任", "community director", ("unit",),
        ("社区主任", "居委会主任", "社区居委会主任", "村主任", "村委会主任"), "community",
    ),
    "town_secretary": Role(
        "街道（镇）书记", "town secretary", ("unit",),
        ("街道书记", "街道党工委书记", "镇书记", "镇党委书记", "乡党委书记"), "town",
    ),
    "town_head": Role(
        "街道主任（镇长）", "town head", ("unit",),
        ("街道主任", "街道办事处主任", "街道办主任", "镇长", "乡长"), "town",
    ),
}  # fmt: skip
"""Every role by its canonical key."""

#: What users read: Simplified Chinese (Traditional names are accepted as input).
ROLE_LABELS: Final = {key: role.label for key, role in ROLE_SET.items()}
DUTIES: Final = {"full_time": "专职", "part_time": "兼职"}
TRADITIONAL: Final = str.maketrans(
    "網長員專職導輔協單樓棟區書記黨組織會鎮鄉辦處",
    "网长员专职导辅协单楼栋区书记党组织会镇乡办处",
)
"""The Traditional characters of the role and duty names, to their Simplified forms."""


def _english(text: str) -> str:
    return " ".join(re.sub(r"[-_]", " ", text.lower()).split())


ROLES: Final = {
    **{_english(k): k for k in ROLE_SET},
    **{_english(r.english): k for k, r in ROLE_SET.items()},
    **{
        unicodedata.normalize("NFKC", n): k
        for k, r in ROLE_SET.items()
        for n in (r.label, *r.names)
    },
    "worker full time": "worker", "full time worker": "worker", "worker part time": "worker",
    "part time worker": "worker", "street leader": "town_head",
    "micro grid worker": "micro_worker",
}  # fmt: skip
"""Accepted spellings (Simplified, English) → canonical role."""
DUTY_NAMES: Final = {"full time": "full_time", "专职": "full_time", "part time": "part_time",
                     "兼职": "part_time"}  # fmt: skip
ID_COLUMNS: Final = ("id_number", "id_card", "身份证号", "身份证号码", "证件号码", "身份证")
"""Columns that may hold a resident ID number: checked, then dropped (never stored)."""
ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK: Final = "10X98765432"
PUBLIC_FIELDS: Final = (
    *TARGETS, "name", "role", "role_label", "duty", "phone", "photo",
)  # fmt: skip
REQUIRED: Final = ("name", "role", "phone")
MAX_NAME_CHARS: Final = 50
MAX_PHONE_CHARS: Final = 32
MAX_PHOTO_CHARS: Final = 500

PHONE_DIGITS: Final = re.compile(
    r"^(?:1[3-9]\d{9}"  # mobile: 13800000000
    r"|0\d{9,11}"  # landline with area code: 021-12345678, 0755-1234567
    r"|[48]00\d{7}"  # 400/800 service lines
    r"|1\d{2,4}|9\d{4})$"  # short service numbers: 110, 12345, 96110
)
PHONE_CHARS: Final = re.compile(r"^\+?[0-9()\- ]+(?:(?:转|ext\.?|x|#)\s*\d{1,6})?$", re.IGNORECASE)


def _plain(value: object) -> str:
    """NFKC-normalised, trimmed, Traditional role characters made Simplified."""
    return unicodedata.normalize("NFKC", str(value)).strip().translate(TRADITIONAL)


def parse_role(value: object) -> tuple[str, str | None]:
    """The canonical role of a role given in English, Simplified or Traditional Chinese, and
    the duty its name implies (``专职网格员`` → ``("worker", "full_time")``).

    Raises
    ------
    RosterError
        An unknown role.
    """
    text = _plain(value)
    role = ROLES.get(text, ROLES.get(_english(text)))
    if role is None:
        msg = f"unknown role {_shown(value)}: use one of " + ", ".join(
            f"{k}/{r.label}" for k, r in ROLE_SET.items()
        )
        raise RosterError(msg)
    implied = next((d for name, d in DUTY_NAMES.items() if text.startswith(name)), None)
    if "time" in _english(text):
        implied = "part_time" if "part" in _english(text) else "full_time"
    return role, implied if role == "worker" else None


def check_role(value: object) -> str:
    """The canonical role (see :data:`ROLE_SET`) of a role given in English, Simplified or
    Traditional Chinese.

    Raises
    ------
    RosterError
        An unknown role.
    """
    return parse_role(value)[0]


def check_duty(value: object, role: str) -> str | None:
    """``full_time``, ``part_time`` or None (not given) for a worker; None for other roles.

    Raises
    ------
    RosterError
        An unknown duty, or a duty given for a role other than 网格员.
    """
    text = _plain(value if value is not None else "")
    if not text:
        return None
    duty = DUTY_NAMES.get(text, DUTY_NAMES.get(_english(text)))
    if duty is None and text.replace("-", "_").lower() in DUTIES:
        duty = text.replace("-", "_").lower()
    if duty is None:
        raise RosterError(f"unknown duty {_shown(value)}: use full_time/专职 or part_time/兼职")
    if role != "worker":
        msg = f"duty {_shown(value)} is for 网格员 only, not for {ROLE_LABELS[role]}"
        raise RosterError(msg)
    return duty


def role_label(role: str, duty: str | None = None) -> str:
    """How the notice prints a role: ``网格员``, ``专职网格员``, ``社区（村）书记``…"""
    label = ROLE_LABELS.get(role, role)
    return f"{DUTIES[duty]}{label}" if duty in DUTIES else label


def check_post(role: str, serves: str, level: str | None = None) -> None:
    """Refuse a role on what it cannot serve (a 微网格员 on a community, a 社区书记 on a
    grid, a 街道书记 on a community); ``level`` is the unit's level when known.

    Raises
    ------
    RosterError
        Naming the role, what it was put on and what it may serve.
    """
    spec = ROLE_SET[role]
    if serves not in spec.serves:
        where = {"grid": "a grid", "cell": "a unit cell", "unit": "a unit"}
        allowed = " or ".join(where[s] for s in spec.serves)
        raise RosterError(f"{spec.label} ({role}) serves {allowed}, not {where[serves]}")
    if spec.level is None or serves != "unit" or not level:
        return
    is_town = level in TOWN_LEVELS
    if is_town != (spec.level == "town"):
        msg = (
            f"{spec.label} ({role}) is a contact of a {spec.level}, and unit level "
            f"{level!r} is {'a town' if is_town else 'not a town'}"
        )
        raise RosterError(msg)


def check_phone(value: object) -> str:
    """A phone number as given (trimmed, full-width digits made ASCII), refused unless it is
    a mainland mobile, a landline with its area code (an extension may follow), a 400/800
    line or a short service number; ``+86`` may lead.

    Raises
    ------
    RosterError
        Naming the value (cut short) and the forms accepted.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    main = re.split(r"(?:转|ext\.?|x|#)", text, maxsplit=1, flags=re.IGNORECASE)[0]
    digits = re.sub(r"\D", "", main)
    if text.startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]
    if len(text) > MAX_PHONE_CHARS or not PHONE_CHARS.match(text) or not PHONE_DIGITS.match(digits):
        msg = (
            f"phone {_shown(value)} is not a phone number: give a mobile (13800000000), a "
            "landline with its area code (021-12345678) or a service number (12345)"
        )
        raise RosterError(msg)
    return text


def check_name(value: object) -> str:
    """A person's name: one printable line of 1 to :data:`MAX_NAME_CHARS` characters.

    Raises
    ------
    RosterError
        An empty, multi-line or over-long name.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip() if value is not None else ""
    if not text or len(text) > MAX_NAME_CHARS or not text.isprintable():
        msg = (
            f"name {_shown(value)} is not usable: give the person's name, one line of at most "
            f"{MAX_NAME_CHARS} characters"
        )
        raise RosterError(msg)
    return text


def check_photo(value: object) -> str | None:
    """A photo: an http(s) URL or a file name in the service's photo folder; None if empty.

    Raises
    ------
    RosterError
        A multi-line or over-long value, or a path climbing out of the folder (``..``).
    """
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    parts = text.replace("\\", "/").split("/")
    if len(text) > MAX_PHOTO_CHARS or not text.isprintable() or ".." in parts:
        raise RosterError("photo must be an http(s) URL or a file name in the photo folder")
    return text


def check_id_number(value: object) -> str:
    """A resident ID number (GB 11643: 17 digits and a check character), upper-cased.

    Raises
    ------
    RosterError
        Not 18 characters, or a wrong check character (the number itself is not shown).
    """
    text = unicodedata.normalize("NFKC", str(value)).strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", text):
        raise RosterError("ID number is not an 18-character resident ID")
    total = sum(int(d) * w for d, w in zip(text[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != text[17]:
        raise RosterError("ID number has a wrong check character (mistyped?)")
    return text


def _shown(value: object) -> str:
    """A value for a message, cut to 40 characters (a 10 KB phone number stays readable)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}… ({len(str(value))} characters)"


@dataclass(frozen=True)
class Targets:
    """What a roster may name: grid and cell codes, unit code → level (None: unchecked)."""

    grids: frozenset[str] | None = None
    cells: frozenset[str] | None = None
    units: Mapping[str, str | None] | None = None

    def known(self, serves: str, code: str) -> bool:
        """Whether ``code`` exists (always True for a kind not checked)."""
        found = {"grid": self.grids, "cell": self.cells, "unit": self.units}[serves]
        return found is None or code in found


def read_roster(
    path: str | Path, *, grid_codes: Iterable[str] | None = None, targets: Targets | None = None
) -> pd.DataFrame:
    """Read and check a roster CSV; keep only the public-notice fields.

    Parameters
    ----------
    path
        CSV file (UTF-8, with or without BOM).
    grid_codes
        Codes of the plan's grids; a row naming another grid is refused.
    targets
        The grids, cells and units rows may name (instead of ``grid_codes``).

    Returns
    -------
    pandas.DataFrame
        :data:`PUBLIC_FIELDS`: ``grid_code``, ``cell_code``, ``unit_code`` (one set per row,
        the others empty), ``name``, ``role``, ``role_label``, ``duty``, ``phone``, ``photo``.

    Raises
    ------
    RosterError
        A file that cannot be read or lacks a column.
    RosterProblems
        Every problem of every row, each naming its CSV line.
    """
    try:
        raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        msg = f"cannot read roster {path}: {exc}; give a UTF-8 CSV file"
        raise RosterError(msg) from exc
    if targets is None and grid_codes is not None:
        targets = Targets(grids=frozenset(map(str, grid_codes)))
    return check_roster(raw, targets=targets)


def _columns(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in REQUIRED if c not in raw]
    if missing or not any(t in raw for t in TARGETS):
        need = missing or ["grid_code, cell_code or unit_code"]
        msg = (
            f"roster lacks columns {need} (it has {list(raw.columns)}): give name, role, "
            "phone, one of grid_code/cell_code/unit_code, and optionally duty and photo"
        )
        raise RosterError(msg)
    return raw.fillna("").astype(str).apply(lambda s: s.str.strip())


def _check_row(row: Mapping[Any, str], targets: Targets) -> dict[str, Any]:
    """One roster row checked → its public fields (raises on the first problem)."""
    named = [(t, row[t]) for t in TARGETS if row.get(t, "")]
    if len(named) != 1:
        raise RosterError("give exactly one of grid_code, cell_code or unit_code")
    target, code = named[0]
    serves = SERVES[target]
    role, implied = parse_role(row["role"])
    duty = check_duty(row.get("duty", ""), role) or implied
    if implied and duty != implied:
        raise RosterError(f"role {row['role']!r} and duty {row.get('duty')!r} disagree")
    if not targets.known(serves, code):
        msg = f"{serves} {code!r} does not exist in the plan; check the codes against the plan"
        raise RosterError(msg)
    level = (targets.units or {}).get(code) if serves == "unit" else None
    check_post(role, serves, level)
    return {
        **dict.fromkeys(TARGETS, ""), target: code,
        "name": check_name(row["name"]), "role": role, "role_label": role_label(role, duty),
        "duty": duty, "phone": check_phone(row["phone"]), "photo": check_photo(row.get("photo")),
    }  # fmt: skip


def check_roster(raw: pd.DataFrame, *, targets: Targets | None = None) -> pd.DataFrame:
    """Check roster rows (see :func:`read_roster`): every row, every problem collected.

    Raises
    ------
    RosterError
        A missing column.
    RosterProblems
        One message per bad row (``line N`` counts the CSV header as line 1).
    """
    roster = _columns(raw)
    targets = targets or Targets()
    id_column = next((c for c in ID_COLUMNS if c in roster), None)
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    people: dict[str, tuple[int, str, set[tuple[str, str, str]]]] = {}
    for i, row in enumerate(roster.to_dict("records")):
        line = i + 2
        try:
            out = _check_row(row, targets)
            if id_column and row[id_column]:
                _check_person(check_id_number(row[id_column]), out, line, people)
        except RosterError as exc:
            who = f" ({row['name']})" if row.get("name") and len(row["name"]) <= 20 else ""
            problems.append(f"roster line {line}{who}: {exc}")
            continue
        rows.append(out)
    if problems:
        raise RosterProblems(problems)
    return pd.DataFrame(rows, columns=list(PUBLIC_FIELDS), dtype=object)


def _check_person(
    number: str,
    row: dict[str, Any],
    line: int,
    people: dict[str, tuple[int, str, set[tuple[str, str, str]]]],
) -> None:
    """One ID, one person; a person holds each post once (the number is never kept)."""
    target = next(t for t in TARGETS if row[t])
    post = (target, str(row[target]), str(row["role"]))
    first, name, posts = people.setdefault(number, (line, str(row["name"]), set()))
    if name != row["name"]:
        msg = f"duplicate ID number: line {first} gives the same ID to {name!r}"
        raise RosterError(msg)
    if post in posts:
        msg = f"duplicate ID number: the same person holds this post at line {first} already"
        raise RosterError(msg)
    posts.add(post)


def grids_without_worker(
    roster: pd.DataFrame, grids: pd.DataFrame, *, dedicated: bool = True
) -> list[str]:
    """Codes of grids that have no grid worker (一格一员 broken), sorted; dedicated grids
    (专属网格, staffed by their institution) are checked too unless ``dedicated`` is False."""
    kinds = grids[col.KIND].astype(str)
    checked = grids if dedicated else grids.loc[kinds == "ordinary"]
    staffed = set(roster.loc[roster["role"] == "worker", col.GRID_CODE].astype(str))
    return sorted(set(checked[col.GRID_CODE].astype(str)) - staffed)


def public_roster(roster: pd.DataFrame) -> pd.DataFrame:
    """Only the public-notice fields, whatever the frame holds."""
    return roster[[c for c in PUBLIC_FIELDS if c in roster]].copy()


def unit_levels(
    units: Mapping[str, Mapping[str, Any]], parent_codes: Iterable[str]
) -> dict[str, str | None]:
    """Unit code → level of every unit a staff row may serve: the units of a version, and
    every unit above its grids as a lookup names them (a town known only by the 12-digit
    code of its communities too), so that a lookup's escalation contacts can be staffed.

    Parameters
    ----------
    units
        Unit code → ``{"unit_name", "level", "parent_code"}`` (may be empty).
    parent_codes
        The grids' ``parent_code`` values.
    """
    from gis.serving.lookup import parent_chain  # noqa: PLC0415 - rules stay light to import

    levels: dict[str, str | None] = {
        str(c): (None if u.get("level") is None else str(u.get("level"))) for c, u in units.items()
    }
    for parent in sorted({str(p) for p in parent_codes if p}):
        for unit in parent_chain(parent, None, {c: dict(u) for c, u in units.items()}):
            levels.setdefault(str(unit["code"]), unit["level"])
    return levels
