"""OGC API Features query parameters read at the door: ``bbox`` (in ``bbox-crs``),
``datetime`` (the plan version valid then), ``crs``, ``filter`` / ``filter-lang``.

Every problem is an :class:`~api.errors.OgcParameterError` (400) naming the parameter, the
value seen and what would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from api.errors import OgcParameterError
from gis.errors import CRSError
from gis.serving.features import OutputCrs, bbox_to_lonlat, output_crs

CQL2_TEXT = "cql2-text"
OPEN = ("", "..")


def parse_crs(name: str | None, *, parameter: str = "crs") -> OutputCrs:
    """The served CRS a ``crs`` (or ``bbox-crs``, ``filter-crs``) parameter names."""
    try:
        return output_crs(name)
    except CRSError as exc:
        raise OgcParameterError(f"{parameter}: {exc}") from exc


def parse_bbox(text: str | None, crs: OutputCrs) -> tuple[float, float, float, float] | None:
    """``bbox`` (4 numbers, or 6 with heights, in ``crs`` and its axis order) → lon/lat.

    Raises
    ------
    OgcParameterError
        Not numbers, not finite, inverted, or outside the world.
    """
    if text is None:
        return None
    order = "minlat,minlon,maxlat,maxlon" if crs.lat_first else "minlon,minlat,maxlon,maxlat"
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError as exc:
        raise OgcParameterError(f"bbox {text[:80]!r}: every value must be a number") from exc
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(abs(v) < float("inf") for v in values):
        raise OgcParameterError(f"bbox {text[:80]!r} must be 4 finite numbers: {order}")
    if crs.lat_first:
        values = [values[1], values[0], values[3], values[2]]
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        msg = f"bbox {text[:80]!r} ({order}) is outside lon [-180, 180] / lat [-90, 90]"
        raise OgcParameterError(msg)
    if x0 > x1:
        raise OgcParameterError(f"bbox {text[:80]!r}: minlon > maxlon (antimeridian not supported)")
    if crs.lat_first:  # back to the CRS's own order for the transformation
        return bbox_to_lonlat((y0, x0, y1, x1), crs)
    return bbox_to_lonlat((x0, y0, x1, y1), crs)


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        msg = (
            f"datetime {text[:60]!r} is not RFC 3339: give e.g. 2026-05-01T08:00:00Z, "
            "an interval 2026-01-01T00:00:00Z/2026-06-01T00:00:00Z, or ../2026-06-01T00:00:00Z"
        )
        raise OgcParameterError(msg) from exc


@dataclass(frozen=True)
class TimeSelection:
    """What ``datetime`` asks for: the version valid at ``moment`` (None: the live one).

    An instant selects the version valid then; an interval the last version valid during
    it, i.e. the one valid at its end (the live one when the end is open).
    """

    moment: datetime | None


def parse_datetime(text: str | None) -> TimeSelection | None:
    """``datetime`` (instant, ``a/b``, ``../b``, ``a/..``) → :class:`TimeSelection`; None
    when not given.

    Raises
    ------
    OgcParameterError
        Not RFC 3339, an interval open at both ends, or one that ends before it starts.
    """
    if text is None:
        return None
    if "/" not in text:
        return TimeSelection(_instant(text))
    start_text, _, end_text = text.partition("/")
    if start_text in OPEN and end_text in OPEN:
        raise OgcParameterError(f"datetime {text!r}: an interval needs at least one end")
    start = None if start_text in OPEN else _instant(start_text)
    end = None if end_text in OPEN else _instant(end_text)
    if start is not None and end is not None and end < start:
        raise OgcParameterError(f"datetime {text[:80]!r}: the interval ends before it starts")
    if end is not None and end > datetime.now(UTC):
        end = None  # an interval reaching into the future holds the live version
    return TimeSelection(end)


def check_filter_lang(filter_text: str | None, lang: str | None) -> None:
    """Only CQL2 text is read; a ``filter-lang`` without a ``filter`` is refused too."""
    if lang is not None and lang != CQL2_TEXT:
        raise OgcParameterError(f"filter-lang {lang[:40]!r} is not supported; use {CQL2_TEXT}")
    if filter_text is not None and not filter_text.strip():
        raise OgcParameterError(
            "filter is empty; give a CQL2 text condition, e.g. households > 500"
        )
