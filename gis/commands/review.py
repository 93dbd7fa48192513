"""``wangge submit | approve | reject | rollback | adjust | audit``: a plan goes live once
reviewed.

A street office proposes (``submit``: checked like a publish, stored, never in force), the
district approves (``approve``: live from then on) or rejects it with a reason; ``rollback``
re-publishes an earlier approved plan as a new version; ``adjust`` adjusts the live plan to
changed households and submits the result (:mod:`gis.workbench.stored`). Author and reviewer
must differ;
``wangge publish`` is the one-step path for a single user who holds both roles. Every step
is in the store's append-only audit log (``audit``). The rules are in
:mod:`gis.store.review`; the store is ``--store`` as for ``publish``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gis.commands import common
from gis.commands.store import (
    DEFAULT_STORE,
    CellsLayerOpt,
    LayerOpt,
    NoteOpt,
    ParametersOpt,
    ReportOpt,
    SchemaOpt,
    StoreOpt,
    UnitsLayerOpt,
    UnitsOpt,
    plan_inputs,
    store_files,
)
from gis.errors import OptionError
from gis.inputs.read import read_area
from gis.pipeline import blocks_of_area
from gis.store import VersionInfo, open_store
from gis.store.review import ACTION_LABELS, check_person
from gis.workbench.stored import adjust_version

VersionArg = Annotated[int, typer.Argument(help="Version id (wangge versions lists them)")]
ReviewerOpt = Annotated[str, typer.Option("--reviewer", help="Who reviews (not the author)")]


def _said(info: VersionInfo, what: str, store: str, started: float) -> None:
    common.console.print(
        f"version {info.id} {what}: {info.grids} grids, band {info.band}, state {info.state} "
        f"({time.perf_counter() - started:.2f} s) → {store}",
        highlight=False,
    )


def submit_command(
    plan: Annotated[
        Path | None,
        typer.Argument(help="Plan file to store for review (omit with --version)"),
    ] = None,
    author: Annotated[str, typer.Option("--author", help="Who proposes the plan")] = "",
    note: NoteOpt = "",
    version: Annotated[
        int | None, typer.Option("--version", help="Submit this stored draft instead")
    ] = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="Store as a draft, not yet sent for approval")
    ] = False,
    layer: LayerOpt = None,
    units: UnitsOpt = None,
    units_layer: UnitsLayerOpt = None,
    cells_layer: CellsLayerOpt = None,
    parameters: ParametersOpt = None,
    report: ReportOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Store a plan for approval (validated; not live until a reviewer approves it).

    Prints the new version id, which approve and reject take.
    """
    common.setup_logging(verbose)
    author = check_person(author, "author", "--author")
    if (plan is None) == (version is None):
        msg = "give either a PLAN file to submit or --version N of a stored draft, not both"
        raise OptionError(msg)
    started = time.perf_counter()
    if version is not None:
        with open_store(store, schema=schema, create=False) as opened:
            info = opened.submit(version, author=author)
        _said(info, "submitted for approval", store, started)
        return
    assert plan is not None
    inputs = plan_inputs(plan, store, layer, units, units_layer, cells_layer, parameters, report)
    with open_store(store, schema=schema, create=True) as opened:
        info = opened.propose(author=author, note=note, submit=not draft, **inputs)
    _said(info, "stored as a draft" if draft else "submitted for approval", store, started)


def approve_command(
    version: VersionArg,
    reviewer: ReviewerOpt,
    note: NoteOpt = "",
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Approve a submitted version: it becomes the live plan now."""
    common.setup_logging(verbose)
    started = time.perf_counter()
    with open_store(store, schema=schema, create=False) as opened:
        info = opened.approve(version, reviewer=reviewer, note=note)
    _said(info, f"approved by {info.reviewer}, live", store, started)


def reject_command(
    version: VersionArg,
    reviewer: ReviewerOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it is sent back")],
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Reject a draft or submitted version, with the reason; it never goes live."""
    common.setup_logging(verbose)
    started = time.perf_counter()
    with open_store(store, schema=schema, create=False) as opened:
        info = opened.reject(version, reviewer=reviewer, reason=reason)
    _said(info, f"rejected by {info.reviewer}", store, started)


def rollback_command(
    version: VersionArg,
    author: Annotated[str, typer.Option("--author", help="Who rolls back")],
    note: NoteOpt = "",
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Re-publish an earlier approved version as a new live version."""
    common.setup_logging(verbose)
    started = time.perf_counter()
    with open_store(store, schema=schema, create=False) as opened:
        info = opened.rollback(version, author=author, note=note)
    _said(info, f"re-publishes version {info.rollback_of}, live", store, started)


def adjust_command(
    area: Annotated[Path, typer.Argument(help="The area the live plan was drawn from (.gpkg)")],
    households: Annotated[
        Path, typer.Option("--households", help="The new household features (points/polygons)")
    ],
    author: Annotated[str, typer.Option("--author", help="Who proposes the adjustment")],
    note: NoteOpt = "",
    version: Annotated[
        int | None, typer.Option("--version", help="Version to adjust (default: live)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the repair's searches")] = 0,
    draft: Annotated[
        bool, typer.Option("--draft", help="Store as a draft, not yet sent for approval")
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Adjust the live plan to changed households, minimally, and submit it for approval.

    Grids the change leaves in the band keep their geometry and code; redrawn grids get new
    codes in the plan's own scheme, never a code any earlier version retired.
    """
    common.setup_logging(verbose)
    author = check_person(author, "author", "--author")
    common.refuse_overwrite(store_files(store), [area, households], output="store")
    started = time.perf_counter()
    before = read_area(area)
    blockset, _, _ = blocks_of_area(before)
    changed, _, _ = blocks_of_area(read_area(area, households=households))
    with open_store(store, schema=schema, create=False) as opened:
        result, info = adjust_version(
            opened, blockset, changed.households, author=author, note=note,
            version_id=version, seed=seed, submit=not draft,
        )  # fmt: skip
    common.console.print(
        f"{len(result.out_of_band)} grid(s) left the band, {len(result.changed)} redrawn, "
        f"≈{result.households_moved} of {result.households_total} households change grid",
        highlight=False,
    )
    _said(info, "stored as a draft" if draft else "submitted for approval", store, started)


def audit_command(
    version: Annotated[
        int | None, typer.Option("--version", help="Only the steps on this version")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead")] = False,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """The audit log: who did what to which version, when (oldest first)."""
    common.setup_logging(verbose)
    with open_store(store, schema=schema, create=False) as opened:
        entries = opened.audit(version)
    if as_json:
        common.console.print_json(data=[e.to_dict() for e in entries])
        return
    table = Table(title=f"Audit log of {store}")
    for name in ("#", "at", "who", "step", "version", "detail"):
        table.add_column(name, justify="right" if name in ("#", "version") else "left")
    for e in entries:
        said = "; ".join(f"{k}: {v}" for k, v in e.detail.items() if v not in (None, ""))
        table.add_row(
            str(e.id),
            e.at.isoformat(timespec="seconds"),
            e.actor,
            f"{e.action} ({ACTION_LABELS.get(e.action, e.action)})",
            "" if e.version_id is None else str(e.version_id),
            said,
        )
    common.console.print(table)


def register(app: typer.Typer) -> None:
    """Add the review commands to ``app``."""
    for name, command in (
        ("submit", submit_command),
        ("approve", approve_command),
        ("reject", reject_command),
        ("rollback", rollback_command),
        ("adjust", adjust_command),
        ("audit", audit_command),
    ):
        app.command(name)(common.handle_errors(command))
