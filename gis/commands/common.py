"""What every command shares: input options, error handling, progress bars."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import geopandas as gpd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gis.errors import MissingExtraError, OptionError, WanggeError
from gis.inputs.prepare import Estimate, Prepared, prepare_blocks
from gis.inputs.read import Area, read_layer
from gis.inputs.read import read_area as gis_read_area

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
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:  # an optional extra's module, imported lazily
            missing = MissingExtraError.from_import(exc, "this command")
            if missing is None:
                raise
            err_console.print(
                f"[bold red]error:[/] {escape(str(missing))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(missing.exit_code) from None

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


def read_area(
    source: Path | None,
    *,
    boundary: Path | None,
    roads: Path | None,
    households: Path | None,
    buildings: Path | None,
    sites: Path | None = None,
    household_column: str,
    crs: str | None,
    input_crs: str | None,
) -> Area:
    """The area named by a command's input options (:func:`gis.read_area`).

    Raises
    ------
    OptionError
        When neither a source file nor ``--boundary`` is given.
    """
    if source is None and boundary is None:
        msg = "give an area: a conventional GeoPackage (wangge partition area.gpkg) or --boundary"
        raise OptionError(msg)
    return gis_read_area(
        source,
        boundary=boundary,
        roads=roads,
        households=households,
        buildings=buildings,
        sites=sites,
        household_column=household_column,
        crs=crs,
        input_crs=input_crs,
    )


def read_grids(path: Path, *, layer: str = "grids") -> gpd.GeoDataFrame:
    """Read a plan's grids layer, refusing files that hold none."""
    return read_layer(path, layer)


def refuse_overwrite(outputs: Iterable[Path | None], inputs: Iterable[Path | None]) -> None:
    """Refuse an output that is one of the inputs (or the same file under another name).

    Raises
    ------
    OptionError
        Naming the output and the input it would replace.
    """
    ins = {_resolved(p): p for p in inputs if p is not None}
    for out in outputs:
        if out is None:
            continue
        hit = ins.get(_resolved(out))
        if hit is not None:
            msg = (
                f"the output {out} is the input {hit}: writing it would destroy the input; "
                "choose another output path"
            )
            raise OptionError(msg)


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()
