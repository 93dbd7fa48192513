"""Grid staff rosters: who serves which grid, checked against "one grid, one worker" (一格一員).

A roster is a CSV with columns ``grid_code``, ``name``, ``role``, ``phone`` and optionally
``photo`` (a path). Roles may be given in Chinese or English:

=============  ==========  ===========================
role           中文        duty
=============  ==========  ===========================
``leader``     網格長      leads a group of grids
``worker``     網格員      the grid's own worker
``assistant``  網格輔助員  helps the worker
``instructor`` 網格指導員  guides from the street office
=============  ==========  ===========================

Only the public-notice fields (name, role, phone, photo) ever leave through
:func:`public_roster`; any other column in the CSV (ID numbers, addresses…) is dropped on
import and never stored.

Every record is checked at the door, from a CSV or from the service (:func:`check_person`):
a name of one line (at most :data:`MAX_NAME_CHARS` characters), a known role, and a phone
number of a form that can be dialled in mainland China (:func:`check_phone`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Final

import pandas as pd

from gis import columns as col
from gis.errors import RosterError

ROLES: dict[str, str] = {
    "leader": "leader",
    "網格長": "leader",
    "网格长": "leader",
    "worker": "worker",
    "網格員": "worker",
    "网格员": "worker",
    "assistant": "assistant",
    "網格輔助員": "assistant",
    "网格辅助员": "assistant",
    "instructor": "instructor",
    "網格指導員": "instructor",
    "网格指导员": "instructor",
}
#: What users read: Simplified Chinese (Traditional names are accepted as input above).
ROLE_LABELS = {
    "leader": "网格长",
    "worker": "网格员",
    "assistant": "网格辅助员",
    "instructor": "网格指导员",
}
PUBLIC_FIELDS = (col.GRID_CODE, "name", "role", "role_label", "phone", "photo")
REQUIRED = (col.GRID_CODE, "name", "role", "phone")
MAX_NAME_CHARS: Final = 50
MAX_PHONE_CHARS: Final = 32

PHONE_DIGITS: Final = re.compile(
    r"^(?:1[3-9]\d{9}"  # mobile: 13800000000
    r"|0\d{9,11}"  # landline with area code: 021-12345678, 0755-1234567
    r"|[48]00\d{7}"  # 400/800 service lines
    r"|1\d{2,4}|9\d{4})$"  # short service numbers: 110, 12345, 96110
)
PHONE_CHARS: Final = re.compile(r"^\+?[0-9()\- ]+(?:(?:转|ext\.?|x|#)\s*\d{1,6})?$", re.IGNORECASE)


def check_role(value: object) -> str:
    """The canonical role (``leader``, ``worker``, ``assistant``, ``instructor``) of a role
    given in English, Simplified or Traditional Chinese.

    Raises
    ------
    RosterError
        An unknown role.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    role = ROLES.get(text.lower(), ROLES.get(text))
    if role is None:
        msg = (
            f"unknown role {_shown(value)}: use leader/网格长, worker/网格员, "
            "assistant/网格辅助员 or instructor/网格指导员"
        )
        raise RosterError(msg)
    return role


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


def _shown(value: object) -> str:
    """A value for a message, cut to 40 characters (a 10 KB phone number stays readable)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}… ({len(str(value))} characters)"


def read_roster(path: str | Path, *, grid_codes: set[str] | None = None) -> pd.DataFrame:
    """Read and check a roster CSV; keep only the public-notice fields.

    Parameters
    ----------
    path
        CSV file (UTF-8, with or without BOM).
    grid_codes
        Codes of the plan's grids; a roster row naming another code is refused.

    Returns
    -------
    pandas.DataFrame
        Columns ``grid_code``, ``name``, ``role`` (leader, worker, assistant, instructor),
        ``role_label`` (Chinese), ``phone``, ``photo``.

    Raises
    ------
    RosterError
        A missing column, an unknown role, an empty name, or a grid that does not exist.
    """
    try:
        raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig").fillna("")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"cannot read roster {path}: {exc}; give a UTF-8 CSV file"
        raise RosterError(msg) from exc
    return check_roster(raw, grid_codes=grid_codes)


def check_roster(raw: pd.DataFrame, *, grid_codes: set[str] | None = None) -> pd.DataFrame:
    """Check roster rows (see :func:`read_roster`)."""
    raw = raw.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in REQUIRED if c not in raw]
    if missing:
        msg = (
            f"roster lacks columns {missing} (it has {list(raw.columns)}): give grid_code, "
            "name, role, phone and optionally photo"
        )
        raise RosterError(msg)
    roster = raw.astype(str).apply(lambda s: s.str.strip())
    role = roster["role"].map(lambda r: ROLES.get(r.lower(), ROLES.get(r)))
    unknown = roster.loc[role.isna(), "role"]
    if len(unknown):
        msg = (
            f"roster has unknown roles {sorted(set(unknown))[:5]}: use leader/網格長, "
            "worker/網格員, assistant/網格輔助員 or instructor/網格指導員"
        )
        raise RosterError(msg)
    if (roster["name"] == "").any():
        rows = roster.index[roster["name"] == ""].tolist()[:5]
        msg = f"roster rows {rows} have no name: every person needs a name"
        raise RosterError(msg)
    for row, (name, phone) in enumerate(zip(roster["name"], roster["phone"], strict=True)):
        try:
            check_name(name)
            check_phone(phone)
        except RosterError as exc:
            raise RosterError(f"roster row {row}: {exc}") from None
    if grid_codes is not None:
        unknown_grids = sorted(set(roster[col.GRID_CODE]) - set(grid_codes))
        if unknown_grids:
            msg = (
                f"roster names grids that do not exist in the plan: {unknown_grids[:5]}; "
                "check the codes against the published plan"
            )
            raise RosterError(msg)
    out = pd.DataFrame(
        {
            col.GRID_CODE: roster[col.GRID_CODE],
            "name": roster["name"],
            "role": role,
            "role_label": role.map(ROLE_LABELS),
            "phone": roster["phone"],
            "photo": roster.get("photo", ""),
        }
    )
    return out.reset_index(drop=True)


def grids_without_worker(roster: pd.DataFrame, grids: pd.DataFrame) -> list[str]:
    """Codes of ordinary grids that have no grid worker (一格一員 broken), sorted."""
    ordinary = grids.loc[grids[col.KIND] == "ordinary", col.GRID_CODE].astype(str)
    staffed = set(roster.loc[roster["role"] == "worker", col.GRID_CODE])
    return sorted(set(ordinary) - staffed)


def public_roster(roster: pd.DataFrame) -> pd.DataFrame:
    """Only the public-notice fields, whatever the frame holds."""
    return roster[[c for c in PUBLIC_FIELDS if c in roster]].copy()
