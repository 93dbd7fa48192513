"""What both stores share: resolving a version, diffing, the test seam, context management."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import geopandas as gpd

from gis.errors import ValidationErrors, VersionNotFoundError
from gis.options import Band
from gis.store.diff import PlanDiff, diff_plans
from gis.store.plan import (
    VersionInfo,
    band_row,
    jsonable,
    prepare_cells,
    prepare_grids,
    prepare_units,
    utc,
)

logger = logging.getLogger(__name__)


MAX_AUTHOR_CHARS = 200


def check_author(author: object) -> str:
    """The publisher's name, stripped; refused when empty, not text, or too long.

    Raises
    ------
    ValidationErrors
        Naming what was given.
    """
    if not isinstance(author, str) or not author.strip():
        msg = f"author must name who publishes (e.g. --author 'Wang Fang'), got {author!r}"
        raise ValidationErrors([msg])
    text = author.strip()
    if len(text) > MAX_AUTHOR_CHARS or not text.isprintable():
        msg = f"author must be one printable line of at most {MAX_AUTHOR_CHARS} characters"
        raise ValidationErrors([msg])
    return text


def as_of_note(info: VersionInfo, as_of: datetime | None) -> str | None:
    """A sentence when ``as_of`` is later than now and ``info`` (the live version) answers
    for it: no version is known beyond the last one published."""
    moment = utc(as_of)
    if moment is None or not info.live or moment <= datetime.now(UTC):
        return None
    return (
        f"{moment.isoformat()} is after the last published version (version {info.id}, live "
        f"since {info.valid_from.isoformat()}): the answer is the version live now, and a "
        "later publish may change what is live then"
    )


class BaseStore(ABC):
    """Common behaviour of :class:`~gis.store.postgis.PostgisStore` and the GeoPackage store.

    Subclasses implement the storage primitives; this class checks plans at the door,
    resolves "live", "version n" and "as of t" to one version, and diffs versions.
    """

    # ---- primitives ------------------------------------------------------------------------
    @abstractmethod
    def versions(self) -> list[VersionInfo]:
        """Every published version, oldest first."""

    @abstractmethod
    def _publish(
        self,
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
        meta: dict[str, Any],
    ) -> int:
        """Validate and write a prepared plan atomically; return the new version id."""

    @abstractmethod
    def _read_layer(self, layer: str, version_id: int) -> gpd.GeoDataFrame:
        """Rows of ``grids`` or ``cells`` of one version, EPSG:4326."""

    @abstractmethod
    def read_units(self, *, as_of: datetime | None = None) -> gpd.GeoDataFrame:
        """Administrative units in force at ``as_of`` (default: now), EPSG:4326."""

    @abstractmethod
    def grid_at(self, lon: float, lat: float, *, as_of: datetime | None = None) -> str | None:
        """Code of the grid holding a point (EPSG:4326) in the version live at ``as_of``."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections (no-op by default)."""

    def _checkpoint(self, stage: str) -> None:  # noqa: B027 - optional hook, not abstract
        """Called inside the publishing transaction at each ``stage`` (a test seam; no-op)."""

    # ---- shared behaviour ------------------------------------------------------------------
    def publish(
        self,
        grids: gpd.GeoDataFrame,
        *,
        author: str,
        note: str = "",
        parameters: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        units: gpd.GeoDataFrame | None = None,
        cells: gpd.GeoDataFrame | None = None,
        band: Band | None = None,
    ) -> VersionInfo:
        """Publish a plan as the new live version, all at once or not at all.

        Parameters
        ----------
        grids
            One row per grid, any CRS (see :func:`gis.store.plan.prepare_grids`).
        author, note
            Who publishes and why.
        parameters, report
            JSON-serialisable dicts kept with the version (partition options, checks).
        units
            Administrative units; when given, the grids must cover each with gaps < 1 m².
        cells
            Optional unit cells (cell_code, grid_code, households, geometry).
        band
            The household band the plan was drawn for, kept with the version
            (:attr:`VersionInfo.band`; the default band when None).

        Returns
        -------
        VersionInfo
            The new live version.

        Raises
        ------
        PlanOverlapError, PlanGapError, DuplicateGridCodeError
            The plan is refused; the offending grid codes are in ``exc.grid_codes``.
        ValidationErrors
            Missing columns, bad kinds or geometries; an empty ``author``.
        InputTypeError
            ``band`` is not a :class:`~gis.options.Band`.
        """
        author = check_author(author)
        prepared = prepare_grids(grids)
        meta = {
            "author": author,
            "note": str(note),
            "parameters": jsonable(parameters),
            "report": jsonable(report),
            "band": band_row(band),
        }
        version_id = self._publish(
            prepared, prepare_units(units), prepare_cells(cells, prepared), meta
        )
        logger.info("published version %d (%d grids)", version_id, len(prepared))
        return self.version(version_id)

    def version(
        self, version_id: int | None = None, *, as_of: datetime | None = None
    ) -> VersionInfo:
        """One version: by id, the one live at ``as_of``, or (neither given) the live one.

        Raises
        ------
        VersionNotFoundError
            No such id, or no version was live at that time.
        """
        versions = self.versions()
        if version_id is not None:
            for info in versions:
                if info.id == version_id:
                    return info
            known = ", ".join(str(v.id) for v in versions) or "none yet"
            msg = f"no plan version {version_id}; versions: {known}"
            raise VersionNotFoundError(msg)
        moment = utc(as_of)
        for info in versions:
            if moment is None and info.live:
                return info
            if (
                moment is not None
                and info.valid_from <= moment
                and (info.valid_to is None or moment < info.valid_to)
            ):
                return info
        when = f"at {moment.isoformat()}" if moment is not None else "now"
        msg = f"no plan version was live {when}; publish one first (wangge publish)"
        raise VersionNotFoundError(msg)

    def read_grids(
        self, version_id: int | None = None, *, as_of: datetime | None = None
    ) -> gpd.GeoDataFrame:
        """The grids of one version (see :meth:`version`), EPSG:4326, with ``version_id``."""
        info = self.version(version_id, as_of=as_of)
        return self._read_layer("grids", info.id)

    def read_cells(
        self, version_id: int | None = None, *, as_of: datetime | None = None
    ) -> gpd.GeoDataFrame:
        """The unit cells of one version (may be empty), EPSG:4326."""
        info = self.version(version_id, as_of=as_of)
        return self._read_layer("cells", info.id)

    def diff(self, old_version: int, new_version: int) -> PlanDiff:
        """Grids added, removed, changed and households moved from one version to another.

        See :mod:`gis.store.diff` for how moved households are estimated.
        """
        old = self.read_grids(old_version)
        new = self.read_grids(new_version)
        cells = self._read_layer("cells", old_version)
        return diff_plans(
            old, new, old_cells=cells, old_version=old_version, new_version=new_version
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
