"""What every command shares: input options, error handling, progress bars."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gis.errors import WanggeError
from gis.inputs.prepare import Estimate, Prepared, prepare_blocks

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)
console = Console()

Source = Annotated[
    Path | None,
    typer.Argument(
        help="Conventional GeoPackage (layers boundary, roads, households, buildings, sites…) "
        "or an OpenStreetMap .osm/.pbf file",
    ),
]
BoundaryOpt = Annotated[Path | None, typer.Option("--boundary", help="Boundary file")]
RoadsOpt = Annotated[Path | None, typer.Option("--roads", help="Roads file")]
HouseholdsOpt = Annotated[
    Path | None, typer.Option("--households", help="Household points/polygons file")
]
BuildingsOpt = Annotated[Path | None, typer.Option("--buildings", help="Building footprints")]
SitesOpt = Annotated[Path | None, typer.Option("--sites", help="Sites for dedicated grids")]
HouseholdColumnOpt = Annotated[
    str, typer.Option("--household-column", help="Household count column")
]
CrsOpt = Annotated[
    str | None, typer.Option("--crs", help="Working metric CRS (default: local UTM zone)")
]
InputCrsOpt = Annotated[
    str | None, typer.Option("--input-crs", help="CRS of inputs that declare none")
]
EstimateOpt = Annotated[
    str,
    typer.Option(
        "--estimate",
        help="Estimate households from buildings: auto (when no counts), always, never",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details")]


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into one clear line on stderr and a non-zero exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except WanggeError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def setup_logging(verbose: bool) -> None:
    """Log to stderr: warnings by default, details with ``--verbose``."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar usable as a ``progress(step, done, total)`` callback."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


def check_estimate(value: str) -> Estimate:
    """Validate the ``--estimate`` option."""
    if value not in ("auto", "always", "never"):
        from gis.errors import OptionError  # noqa: PLC0415

        msg = f"--estimate must be auto, always or never, not {value!r}"
        raise OptionError(msg)
    return value  # type: ignore[return-value]


def load(
    source: Path | None,
    *,
    boundary: Path | None,
    roads: Path | None,
    households: Path | None,
    buildings: Path | None,
    sites: Path | None,
    household_column: str,
    crs: str | None,
    input_crs: str | None,
    estimate: str,
) -> Prepared:
    """Read inputs and cut blocks, with a progress bar."""
    if source is None and boundary is None:
        from gis.errors import OptionError  # noqa: PLC0415

        msg = "give an area: a conventional GeoPackage (wangge blocks area.gpkg) or --boundary"
        raise OptionError(msg)
    with progress_bar() as update:
        update("reading inputs", 0, 1)
        return prepare_blocks(
            source,
            boundary=boundary,
            roads=roads,
            households=households,
            buildings=buildings,
            sites=sites,
            household_column=household_column,
            crs=crs,
            input_crs=input_crs,
            estimate=check_estimate(estimate),
            progress=update,
        )
