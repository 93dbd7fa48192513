"""What every command shares: input options, error handling, progress bars."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import geopandas as gpd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gis.errors import MissingExtraError, OptionError, WanggeError
from gis.inputs.prepare import Estimate, Prepared, prepare_blocks
from gis.inputs.read import Area, read_layer
from gis.inputs.read import read_area as gis_read_area
from gis.outputs.files import check_writable, reason
from gis.store.gpkg_tables import plan_store_versions

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
    """Turn every failure into one clear line on stderr and exit code 2 (1 is kept for plans
    that break a rule).

    Domain errors (:class:`~gis.errors.WanggeError`) and system errors (``OSError``: disk
    full, permission denied) print their message; anything else is a bug and prints one line
    naming it. With ``--verbose`` the traceback is printed before the line.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # the one place every failure becomes a line
            fail(exc, verbose=bool(kwargs.get("verbose")))

    return wrapper


def fail(exc: Exception, *, verbose: bool) -> NoReturn:
    """Print ``exc`` as one line (its traceback first when ``verbose``) and exit."""
    if verbose:
        err_console.print_exception(show_locals=False)
    code = 2
    if isinstance(exc, WanggeError):
        text, code = str(exc), exc.exit_code
    elif isinstance(exc, OSError):
        text = f"{exc.filename}: {reason(exc)}" if exc.filename else reason(exc)
    elif isinstance(exc, ModuleNotFoundError) and (
        missing := MissingExtraError.from_import(exc, "this command")
    ):
        text = str(missing)
    else:
        text = (
            f"unexpected {type(exc).__name__}: {exc} (a bug in wangge; rerun with -v for the "
            "traceback and report it)"
        )
    line = " ".join(text.split())  # one line, whatever the message held
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


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


def refuse_overwrite(
    outputs: Iterable[Path | None],
    inputs: Iterable[Path | None],
    *,
    output: str = "output",
    what: str = "input",
) -> None:
    """Refuse an output that is one of the inputs (or the same file under another name), or
    the same file as another output.

    ``output`` and ``what`` name the two sides in the message (``the store … is the input …``,
    ``the output … is the plan store …``).

    Raises
    ------
    OptionError
        Naming the output and the input (or output) it would replace.
    """
    ins = {_resolved(p): p for p in inputs if p is not None}
    seen: dict[Path, Path] = {}
    for out in outputs:
        if out is None:
            continue
        hit = ins.get(_resolved(out))
        if hit is not None:
            msg = (
                f"the {output} {out} is the {what} {hit}: writing it would destroy the {what}; "
                f"choose another {output} path"
            )
            raise OptionError(msg)
        twin = seen.setdefault(_resolved(out), out)
        if twin is not out:
            msg = f"two outputs are the same file ({twin} and {out}): give each its own path"
            raise OptionError(msg)


def check_outputs(
    outputs: Iterable[Path | None],
    inputs: Iterable[Path | None],
    *,
    folder: bool = False,
    what: str = "input",
) -> None:
    """At the door, before any work: no output replaces an input or another output, and each
    can be written (:func:`gis.outputs.files.check_writable`).

    Raises
    ------
    OptionError
        An output is an input, an existing plan store, or the same file as another output.
    OutputError
        An output's folder cannot be written.
    """
    outputs = list(outputs)
    refuse_overwrite(outputs, inputs, what=what)
    for out in outputs:
        held = None if out is None or folder else plan_store_versions(out)
        if held is not None:
            msg = (
                f"the output {out} is a wangge plan store holding {held} version(s): writing "
                "it would destroy them; choose another output path"
            )
            raise OptionError(msg)
    check_writable(outputs, folder=folder)


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()
