"""What both stores share: the door checks, the review steps, resolving a version, diffing,
the test seam, context management."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import geopandas as gpd

from gis import columns as col
from gis.errors import VersionNotFoundError
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
from gis.store.review import (
    AuditEntry,
    check_not_retired,
    check_person,
    check_reason,
    check_review,
    check_rollback,
    check_submit,
    retired,
)

logger = logging.getLogger(__name__)


def as_of_note(info: VersionInfo, as_of: datetime | None) -> str | None:
    """A sentence when ``as_of`` is later than now and ``info`` (the live version) answers
    for it: no version is known beyond the last one published."""
    moment = utc(as_of)
    if moment is None or not info.live or info.valid_from is None or moment <= datetime.now(UTC):
        return None
    return (
        f"{moment.isoformat()} is after the last published version (version {info.id}, live "
        f"since {info.valid_from.isoformat()}): the answer is the version live now, and a "
        "later publish may change what is live then"
    )


Guard = Callable[[], None]
"""A check a store runs under its publishing lock, just before it writes (raises to refuse)."""


class BaseStore(ABC):
    """Common behaviour of :class:`~gis.store.postgis.PostgisStore` and the GeoPackage store.

    Subclasses implement the storage primitives; this class checks plans at the door, applies
    the review rules (:mod:`gis.store.review`), resolves "live", "version n" and "as of t" to
    one version, and diffs versions.
    """

    # ---- primitives ------------------------------------------------------------------------
    @abstractmethod
    def _all_versions(self) -> list[VersionInfo]:
        """Every stored version, drafts included, oldest first."""

    @abstractmethod
    def _store(
        self,
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
        meta: dict[str, Any],
        guard: Guard,
    ) -> int:
        """Validate and write a prepared plan atomically; return the new version id.

        ``meta["state"]`` is ``approved`` (the plan goes live at once, closing the live
        version) or ``draft``/``submitted`` (stored, never in force until approved);
        ``meta["audit"]`` lists the audit entries written with it. ``guard`` runs under the
        lock, after the geometry checks.
        """

    @abstractmethod
    def _review(
        self, version_id: int, change: dict[str, Any], guard: Callable[[VersionInfo], None]
    ) -> None:
        """Move a stored version to ``change["state"]`` atomically, under the publishing lock.

        ``guard`` is called with the version as stored, under the lock, and refuses by
        raising. An approval makes the version live now (closing the live one, bringing in
        its pending units); ``change`` also holds the reviewer, the note, the time stamps to
        set, and ``change["audit"]``, the audit entries written with it.
        """

    @abstractmethod
    def audit(self, version_id: int | None = None) -> list[AuditEntry]:
        """The audit log (every step on every version, or on one), oldest first."""

    @abstractmethod
    def _codes_by_version(self) -> dict[int, set[str]]:
        """The grid codes of every approved version."""

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

    # ---- storing plans ---------------------------------------------------------------------
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
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Publish a plan as the new live version, all at once or not at all.

        For a single user who both authors and approves: a draft submitted and approved in
        one step (one ``publish`` entry in the audit log). Where author and reviewer are two
        people, use :meth:`propose` and :meth:`approve`.

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
        context
            More to say in the audit entry of this step (e.g. which API key took it).

        Returns
        -------
        VersionInfo
            The new live version.

        Raises
        ------
        PlanOverlapError, PlanGapError, DuplicateGridCodeError, RetiredCodeError
            The plan is refused; the offending grid codes are in ``exc.grid_codes``.
        ValidationErrors
            Missing columns, bad kinds or geometries; an empty ``author``.
        InputTypeError
            ``band`` is not a :class:`~gis.options.Band`.
        """
        return self._new_version(
            grids, author=author, note=note, parameters=parameters, report=report,
            units=units, cells=cells, band=band, state="approved", context=context,
        )  # fmt: skip

    def propose(
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
        submit: bool = True,
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Store a plan for review: checked like a publish, never in force until approved.

        Parameters are those of :meth:`publish`; ``submit`` sends it for approval at once
        (state ``submitted``), else it stays a ``draft`` (:meth:`submit` later).

        Returns
        -------
        VersionInfo
            The stored version (its ``id`` is what :meth:`approve` takes).
        """
        return self._new_version(
            grids, author=author, note=note, parameters=parameters, report=report,
            units=units, cells=cells, band=band, state="submitted" if submit else "draft",
            context=context,
        )  # fmt: skip

    def _new_version(
        self, grids: gpd.GeoDataFrame, *, author: str, note: str, state: str,
        parameters: dict[str, Any] | None, report: dict[str, Any] | None,
        units: gpd.GeoDataFrame | None, cells: gpd.GeoDataFrame | None, band: Band | None,
        rollback_of: int | None = None, context: dict[str, Any] | None = None,
    ) -> VersionInfo:  # fmt: skip
        author = check_person(author, "author", "--author")
        prepared = prepare_grids(grids)
        codes = prepared[col.GRID_CODE].tolist()
        action = {"approved": "publish", "draft": "draft", "submitted": "submit"}[state]
        if rollback_of is not None:
            action = "rollback"
        detail = {
            **jsonable(context),
            "note": str(note),
            "grids": len(prepared),
            "rollback_of": rollback_of,
        }
        meta = {
            "author": author,
            "note": str(note),
            "parameters": jsonable(parameters),
            "report": jsonable(report),
            "band": band_row(band),
            "state": state,
            "rollback_of": rollback_of,
            "audit": [{"actor": author, "action": action, "detail": detail}],
        }

        def guard() -> None:
            if rollback_of is None:  # a rollback brings back its own grids, codes included
                check_not_retired(codes, self.retired_codes())

        guard()
        version_id = self._store(
            prepared, prepare_units(units), prepare_cells(cells, prepared), meta, guard
        )
        logger.info("stored version %d (%s, %d grids)", version_id, state, len(prepared))
        return self.version(version_id, drafts=True)

    # ---- review ----------------------------------------------------------------------------
    def submit(
        self, version_id: int, *, author: str, context: dict[str, Any] | None = None
    ) -> VersionInfo:
        """Send a draft for approval.

        Raises
        ------
        ReviewError
            The version is not a draft.
        """
        author = check_person(author, "author", "--author")
        change = {"state": "submitted"}
        return self._step(version_id, author, "submit", change, jsonable(context), check_submit)

    def approve(
        self,
        version_id: int,
        *,
        reviewer: str,
        note: str = "",
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Approve a submitted version: it goes live now, the live one is closed.

        Raises
        ------
        SelfReviewError
            The reviewer is the author.
        ReviewError
            The version is not awaiting approval.
        RetiredCodeError
            A version approved meanwhile retired a code this one holds.
        """
        reviewer = check_person(reviewer, "reviewer", "--reviewer")
        change = {"state": "approved", "reviewer": reviewer, "review_note": str(note)}

        def guard(info: VersionInfo) -> None:
            check_review(info, reviewer, "approve")
            check_not_retired(self._codes_by_version_of(info.id), self.retired_codes())

        detail = {**jsonable(context), "note": str(note)}
        return self._step(version_id, reviewer, "approve", change, detail, guard)

    def reject(
        self,
        version_id: int,
        *,
        reviewer: str,
        reason: str,
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Reject a draft or submitted version, with the reason; it can never go live.

        Raises
        ------
        SelfReviewError, ReviewError, ValidationErrors
            The reviewer is the author; the version is not in review; no reason.
        """
        reviewer = check_person(reviewer, "reviewer", "--reviewer")
        reason = check_reason(reason)
        change = {"state": "rejected", "reviewer": reviewer, "review_note": reason}

        def guard(info: VersionInfo) -> None:
            check_review(info, reviewer, "reject")

        detail = {**jsonable(context), "reason": reason}
        return self._step(version_id, reviewer, "reject", change, detail, guard)

    def rollback(
        self,
        version_id: int,
        *,
        author: str,
        note: str = "",
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Re-publish an earlier approved version's plan as a new live version.

        Raises
        ------
        ReviewError
            The version was never approved, or is live already.
        """
        info = self.version(version_id, drafts=True)
        check_rollback(info)
        grids = self._read_layer("grids", info.id)
        cells = self._read_layer("cells", info.id)
        units = self.read_units(as_of=info.valid_from)
        note = str(note) or f"rollback to version {info.id}"
        return self._new_version(
            grids, author=author, note=note, parameters=info.parameters, report=info.report,
            units=None if units.empty else units, cells=cells if len(cells) else None,
            band=info.band, state="approved", rollback_of=info.id, context=context,
        )  # fmt: skip

    def _step(
        self,
        version_id: int,
        actor: str,
        action: str,
        change: dict[str, Any],
        detail: dict[str, Any],
        guard: Callable[[VersionInfo], None],
    ) -> VersionInfo:
        guard(self.version(version_id, drafts=True))  # a clear error before any lock
        change["audit"] = [{"actor": actor, "action": action, "detail": detail}]
        self._review(version_id, change, guard)
        logger.info("version %d: %s by %s", version_id, action, actor)
        return self.version(version_id, drafts=True)

    def retired_codes(self) -> set[str]:
        """Grid codes approved versions held and the live version does not: never reused."""
        live = next((v.id for v in self.versions() if v.live), None)
        return retired(self._codes_by_version(), live)

    def _codes_by_version_of(self, version_id: int) -> set[str]:
        return set(self._read_layer("grids", version_id)[col.GRID_CODE].astype(str))

    # ---- reading ---------------------------------------------------------------------------
    def versions(self, *, drafts: bool = False) -> list[VersionInfo]:
        """Every approved version (and with ``drafts``, every stored one), oldest first."""
        found = self._all_versions()
        return found if drafts else [v for v in found if v.approved]

    def version(
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> VersionInfo:
        """One version: by id, the one live at ``as_of``, or (neither given) the live one.

        Versions not approved are found by id only, and only with ``drafts``.

        Raises
        ------
        VersionNotFoundError
            No such id, or no version was live at that time.
        """
        versions = self.versions(drafts=drafts)
        if version_id is not None:
            for info in versions:
                if info.id == version_id:
                    return info
            known = ", ".join(str(v.id) for v in versions) or "none yet"
            what = "versions" if drafts else "approved versions"
            msg = f"no plan version {version_id} among the {what}: {known}"
            raise VersionNotFoundError(msg)
        moment = utc(as_of)
        for info in versions:
            if info.valid_from is None:
                continue
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
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> gpd.GeoDataFrame:
        """The grids of one version (see :meth:`version`), EPSG:4326, with ``version_id``."""
        info = self.version(version_id, as_of=as_of, drafts=drafts)
        return self._read_layer("grids", info.id)

    def read_cells(
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> gpd.GeoDataFrame:
        """The unit cells of one version (may be empty), EPSG:4326."""
        info = self.version(version_id, as_of=as_of, drafts=drafts)
        return self._read_layer("cells", info.id)

    def diff(self, old_version: int, new_version: int) -> PlanDiff:
        """Grids added, removed, changed and households moved from one version to another
        (either may be a draft: a reviewer compares a draft with the live version).

        See :mod:`gis.store.diff` for how moved households are estimated.
        """
        old = self.read_grids(old_version, drafts=True)
        new = self.read_grids(new_version, drafts=True)
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
