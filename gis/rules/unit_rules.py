"""Rules per unit: the band, grid count and drawing mode each community or village is held to.

Local rules differ inside one area (a town has communities and villages side by side): one
plan sets 300–500 households, another 500–800 for urban communities, while villages are drawn
by natural village (原则上不拆分自然村) or by villager group, sometimes "3–7 grids per village"
or "one natural village, or at least 700 people". A :class:`UnitRule` says that for one unit:

``band``
    Households per ordinary grid (min, max, target), as :class:`~gis.options.Band`.
``grids``
    Optional (fewest, most) grids for the unit; the unit's target is moved so that its
    households divide into a grid count in that range (:func:`unit_band`).
``mode``
    ``band`` (grids follow the band alone), ``natural_village`` or ``villager_group`` (the
    ``villages`` layer's polygons in that unit are kept whole, as natural villages or as
    villager groups).
``min_people``
    Optional floor of people per grid, checked where the household features carry a
    ``people`` column (reported, not searched for).

Rules come from a file (TOML or YAML: a ``default`` table and a ``units`` table keyed by
unit code) or from columns of the ``boundary`` layer (``band_min``, ``band_max``,
``band_target``, ``grids_min``, ``grids_max``, ``mode``, ``min_people``; empty cells take the
default). Written here because the rule set is this domain's own; the file formats are read
by :mod:`tomllib` and PyYAML.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd
import yaml

from gis import columns as col
from gis.errors import InputFileError, OptionError, ValidationErrors
from gis.options import Band

MODES: Final = ("band", "natural_village", "villager_group")
VILLAGE_MODES: Final = frozenset({"natural_village", "villager_group"})
MODE_LABELS: Final = {
    "band": "按户数标准",
    "natural_village": "按自然村",
    "villager_group": "按村民小组",
}


@dataclasses.dataclass(frozen=True)
class UnitRule:
    """What one unit is held to (see the module docstring).

    Attributes
    ----------
    band, grids, mode, min_people
        The rule.
    source
        Where it came from: ``rules file``, ``boundary`` or ``default``.
    """

    band: Band
    grids: tuple[int, int] | None = None
    mode: str = "band"
    min_people: int | None = None
    source: str = "default"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the mode in Chinese."""
        return {
            "band": self.band.to_dict(),
            "grids": None if self.grids is None else list(self.grids),
            "mode": self.mode,
            "mode_label": MODE_LABELS[self.mode],
            "min_people": self.min_people,
            "source": self.source,
        }


def _number(value: Any, what: str, where: str) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        msg = f"{where}: {what} must be a whole number, not {value!r}"
        raise ValidationErrors([msg])
    return int(value)


def make_rule(entry: Mapping[str, Any], default: UnitRule, *, where: str, source: str) -> UnitRule:
    """A rule from one table (file) or row (boundary): what it leaves out is ``default``'s.

    Raises
    ------
    ValidationErrors
        A band with min above max, an unknown mode, a grid range the wrong way round,
        numbers that are not whole — naming ``where``.
    """
    known = {"min", "max", "target", "band", "grids", "mode", "min_people"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValidationErrors([f"{where}: unknown key(s) {unknown}; use {sorted(known)}"])
    band_list = entry.get("band")
    if band_list is not None and (not isinstance(band_list, list) or len(band_list) != 2):
        raise ValidationErrors([f"{where}: band must be [min, max], not {band_list!r}"])
    lo = _number(entry.get("min", band_list[0] if band_list else None), "min", where)
    hi = _number(entry.get("max", band_list[1] if band_list else None), "max", where)
    target = _number(entry.get("target"), "target", where)
    lo = default.band.min_households if lo is None else lo
    hi = default.band.max_households if hi is None else hi
    if lo > hi:
        msg = f"{where}: the band's min {lo} is above its max {hi}; give min ≤ max"
        raise ValidationErrors([msg])
    try:
        band = Band(lo, hi) if target is None else Band(lo, hi, target)
    except (OptionError, TypeError, ValueError) as exc:
        raise ValidationErrors([f"{where}: {exc}"]) from exc
    grids = _grids(entry.get("grids"), where) or default.grids
    mode = str(entry.get("mode") or default.mode)
    if mode not in MODES:
        raise ValidationErrors([f"{where}: mode must be one of {list(MODES)}, not {mode!r}"])
    people = _number(entry.get("min_people"), "min_people", where)
    return UnitRule(band, grids, mode, default.min_people if people is None else people, source)


def _grids(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise ValidationErrors([f"{where}: grids must be [fewest, most], not {value!r}"])
    fewest, most = (_number(v, "grids", where) for v in value)
    if fewest is None or most is None or not 1 <= fewest <= most:
        msg = f"{where}: grids must be [fewest, most] with 1 ≤ fewest ≤ most, not {value!r}"
        raise ValidationErrors([msg])
    return (fewest, most)


def read_rules(path: str | Path, default_band: Band) -> tuple[UnitRule, dict[str, UnitRule]]:
    """The default rule and the rules by unit code of a TOML or YAML rules file.

    Raises
    ------
    InputFileError
        The file is missing or not TOML/YAML of the expected shape.
    ValidationErrors
        A bad rule (see :func:`make_rule`).
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = f"cannot read the rules file {path}: {exc}; give a .toml or .yaml file"
        raise InputFileError(msg) from exc
    if not isinstance(data, dict) or not isinstance(data.get("units", {}), dict):
        msg = f"{path}: expected a 'default' table and a 'units' table keyed by unit code"
        raise InputFileError(msg)
    base = UnitRule(default_band)
    given = data.get("default") or {}
    default = make_rule(given, base, where=f"{path} [default]", source="default")
    rules = {
        str(code): make_rule(
            entry or {}, default, where=f"{path} [units.{code}]", source="rules file"
        )
        for code, entry in data.get("units", {}).items()
    }
    return default, rules


def boundary_rules(boundary: pd.DataFrame, default: UnitRule) -> dict[str, UnitRule]:
    """Rules from the rule columns of the boundary layer (none when it has none)."""
    present = [c for c in col.RULE_COLUMNS if c in boundary.columns]
    if not present:
        return {}
    rules = {}
    for row in boundary.to_dict("records"):
        entry = {
            key: row.get(name)
            for key, name in (("min", "band_min"), ("max", "band_max"), ("target", "band_target"),
                              ("mode", "mode"), ("min_people", "min_people"))
            if name in row and not _blank(row.get(name))
        }  # fmt: skip
        lo, hi = row.get("grids_min"), row.get("grids_max")
        if not _blank(lo) or not _blank(hi):
            entry["grids"] = [lo, hi]
        if entry:
            code = str(row[col.UNIT_CODE])
            where = f"boundary row {code}"
            rules[code] = make_rule(entry, default, where=where, source="boundary")
    return rules


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def check_units(rules: Mapping[str, UnitRule], units: Iterable[str]) -> None:
    """Refuse rules naming a unit the area does not have.

    Raises
    ------
    ValidationErrors
    """
    known = set(map(str, units))
    unknown = sorted(set(rules) - known)
    if unknown:
        shown = ", ".join(sorted(known)[:10])
        msg = f"the rules name unit(s) {unknown} that the area does not have (it has {shown})"
        raise ValidationErrors([msg])


def unit_band(rule: UnitRule, households: int) -> tuple[Band, str | None]:
    """The band a unit is partitioned with: the rule's, its target moved so the households
    divide into a grid count in ``rule.grids`` when one is set; and why not, when the band
    and the grid range cannot both hold."""
    band = rule.band
    if rule.grids is None or households <= 0:
        return band, None
    fewest, most = rule.grids
    by_band = (math.ceil(households / band.max_households),
               households // band.min_households if band.min_households else most)  # fmt: skip
    lo, hi = max(fewest, by_band[0]), min(most, by_band[1])
    note = None
    if lo > hi:  # as near the range as the band allows: its fewest, or its most, grids
        note = (
            f"{households} households cannot make {fewest}–{most} grids of "
            f"{band.min_households}–{band.max_households}; the band wins"
        )
        lo = hi = by_band[0] if most < by_band[0] else max(by_band[0], by_band[1])
    k = min(max(round(households / band.target), lo), hi)
    target = min(max(round(households / max(k, 1)), band.min_households), band.max_households)
    return Band(band.min_households, band.max_households, target), note


@dataclasses.dataclass(frozen=True)
class RuleSet:
    """The rule of every unit of an area, and the band each is partitioned with.

    Attributes
    ----------
    default
        The rule of units no rule names.
    rules
        Unit code → its own rule.
    bands
        Unit code → the band it is partitioned with (:func:`unit_band`).
    notes
        Unit code → why its grid range could not be held with its band.
    """

    default: UnitRule
    rules: dict[str, UnitRule]
    bands: dict[str, Band]
    notes: dict[str, str]

    def rule(self, unit: str) -> UnitRule:
        """The rule of ``unit``."""
        return self.rules.get(str(unit), self.default)

    def village_units(self, units: Iterable[str]) -> set[str]:
        """The units whose villages are kept whole (mode natural_village or villager_group)."""
        return {str(u) for u in units if self.rule(str(u)).mode in VILLAGE_MODES}


def resolve_rules(
    given: str | Path | Mapping[str, UnitRule] | None,
    boundary: pd.DataFrame,
    households: Mapping[str, int],
    band: Band,
) -> RuleSet | None:
    """The rules of an area: from ``given`` (a rules file or a mapping), else from the
    boundary layer's rule columns; None when neither says anything.

    Parameters
    ----------
    given
        A rules file, unit code → :class:`UnitRule`, or None.
    boundary
        The area's units (``unit_code`` and any rule columns).
    households
        Unit code → households (what grid ranges are divided into).
    band
        The area's band (the default rule's, unless a rules file sets its own).

    Raises
    ------
    ValidationErrors, InputFileError
        A bad rule, or a rule naming a unit the area does not have.
    """
    default = UnitRule(band)
    if isinstance(given, str | Path):
        default, rules = read_rules(given, band)
    elif given is not None:
        rules = {str(k): v for k, v in given.items()}
    else:
        rules = boundary_rules(boundary, default)
        if not rules:
            return None
    check_units(rules, boundary[col.UNIT_CODE].astype(str))
    bands, notes = {}, {}
    for unit in boundary[col.UNIT_CODE].astype(str):
        rule = rules.get(unit, default)
        bands[unit], note = unit_band(rule, int(households.get(unit, 0)))
        if note is not None:
            notes[unit] = note
    return RuleSet(default, rules, bands, notes)


def rules_report(
    ruleset: RuleSet, grids: pd.DataFrame, people: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Which rule each unit used and every exception to it: ordinary grids outside the
    unit's band, a grid count outside its range, grids below its people floor.

    Parameters
    ----------
    ruleset
        The area's rules.
    grids
        The plan's grids (``grid_code``, ``kind``, ``households``, ``parent_code``).
    people
        Grid code → people, where the households carry people counts (None: none do).
    """
    out: dict[str, Any] = {}
    for unit, band in sorted(ruleset.bands.items()):
        rule = ruleset.rule(unit)
        mine = grids[(grids[col.PARENT_CODE].astype(str) == unit)]
        ordinary = mine[mine[col.KIND] == col.ORDINARY]
        exceptions = [
            {"grid_code": str(r[col.GRID_CODE]), "households": int(r[col.HOUSEHOLDS]),
             "why": f"{band.side(int(r[col.HOUSEHOLDS]))} the unit's band {band}"}
            for r in ordinary.to_dict("records")
            if not band.contains([int(r[col.HOUSEHOLDS])])[0]
        ]  # fmt: skip
        if rule.grids is not None and not rule.grids[0] <= len(ordinary) <= rule.grids[1]:
            fewest, most = rule.grids
            why = f"{len(ordinary)} grids, outside {fewest}–{most}"
            exceptions.append({"why": f"{why}: {ruleset.notes.get(unit, 'the band wins')}"})
        if rule.min_people is not None:
            if people is None:
                exceptions.append({"why": "no people counts: the people floor is not checked"})
            else:
                exceptions += [
                    {"grid_code": str(c), "people": int(people.get(str(c), 0)),
                     "why": f"below the people floor {rule.min_people}"}
                    for c in ordinary[col.GRID_CODE] if people.get(str(c), 0) < rule.min_people
                ]  # fmt: skip
        out[unit] = {**rule.to_dict(), "band_used": band.to_dict(), "grids_made": len(ordinary),
                     "exceptions": exceptions}  # fmt: skip
    return out
