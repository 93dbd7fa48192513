"""Writing outputs: whole or not at all.

Every output goes to a temporary folder beside its target (``.<stem>.XXXXXXXX/``) and is
renamed into place only once complete, so a failure never leaves a half-written GeoPackage,
map or report behind; a command that writes several outputs stages them all
(:func:`atomic_paths`) and renames them only when every one is complete, so a failure leaves
none of them. :func:`check_writable` refuses, before any work, an output whose folder cannot
be written. Every failure to write (no space left, permission denied, a read-only disk) is one
:class:`~gis.errors.OutputError` naming the target, never the temporary name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj

from gis.errors import OptionError, OutputError

OUTPUT_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".parquet": "parquet",
}

REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "no such folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
}
"""Plain words for the errors a user meets when writing (the rest keep the system's)."""

DISK_FULL_WORDS = ("disk is full", "no space left", "disk full", "database or disk is full")


def reason(exc: BaseException) -> str:
    """Why a write failed, in plain words (``no space left on the device``, …)."""
    if isinstance(exc, OSError) and exc.errno in REASONS:
        return REASONS[exc.errno]
    text = " ".join(str(exc).split())
    if any(word in text.lower() for word in DISK_FULL_WORDS):
        return f"{REASONS[errno.ENOSPC]} ({text})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return text or type(exc).__name__


def _no_room(folder: Path, size: int = 256 * 1024) -> bool:
    """Whether the disk of ``folder`` cannot take ``size`` more bytes (tried: the space is
    reserved with ``posix_fallocate`` in a temporary file, then released)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".wangge-room.", dir=folder)
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        os.close(fd)
        os.unlink(name)
    return False


def cannot_write(target: str | Path, exc: BaseException) -> OutputError:
    """The one-line error for an output that could not be written (with the free space when
    the disk is full). A writer's own words (GDAL's "no such table" on a full disk) are kept,
    and the disk is tried: when it has no room left, the line says so first."""
    why = reason(exc)
    folder = _existing_folder(Path(target))
    if not why.startswith(REASONS[errno.ENOSPC]) and not isinstance(exc, PermissionError):
        with contextlib.suppress(OSError):
            if _no_room(folder):
                why = f"{REASONS[errno.ENOSPC]} ({why})"
    if why.startswith(REASONS[errno.ENOSPC]):
        free = _free_bytes(Path(target))
        if free is not None:
            why += f"; {free / 2**20:.1f} MiB free there"
    return OutputError(f"cannot write {target}: {why}; nothing was written", reason=why)


def _free_bytes(path: Path) -> int | None:
    for folder in (path.parent, *path.parent.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def _existing_folder(path: Path) -> Path:
    """The nearest folder of ``path``'s parents that exists."""
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            return folder
    return Path(path.anchor or ".")


def check_writable(targets: Iterable[str | Path | None], *, folder: bool = False) -> None:
    """Refuse, before any work, outputs that cannot be written.

    The nearest existing folder of each target must be a folder where a file can be created
    (tried: a temporary folder is made there and removed at once; nothing is left).

    Parameters
    ----------
    targets
        Output paths; None entries are skipped.
    folder
        The targets are output folders (``wangge notice --out``), not files.

    Raises
    ------
    OutputError
        Naming the output and why it cannot be written.
    """
    for target in targets:
        if target is None:
            continue
        path = Path(target)
        if path.is_dir() and not folder:
            raise OutputError(f"cannot write {path}: it is a folder; give a file name")
        if folder and path.exists() and not path.is_dir():
            raise OutputError(f"cannot write into {path}: it is a file, not a folder")
        where = _existing_folder(path if not folder else path / "x")
        if not where.is_dir():
            raise OutputError(f"cannot write {path}: {where} is a file, not a folder")
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".wangge-probe.", dir=where))
        except OSError as exc:
            msg = f"cannot write {path}: {reason(exc)} in {where}; choose another place"
            raise OutputError(msg) from exc


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for made in reversed(folders):
        try:
            made.rmdir()
        except OSError:
            break


def _commit(tmp_dir: Path, target: Path) -> None:
    """Move what ``tmp_dir`` holds beside ``target``: side files first, ``target`` last (it
    appears only once the set is complete, e.g. a Shapefile's ``.shp`` after its ``.dbf``)."""
    for written in sorted(tmp_dir.iterdir(), key=lambda p: (p.name == target.name, p.name)):
        os.replace(written, target.parent / written.name)


@contextmanager
def atomic_paths(targets: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Yield temporary paths for several outputs; move them all in on success only.

    Each target gets a temporary folder beside it (same file system, so the final rename is
    atomic per file). Nothing is moved until the whole ``with`` body has succeeded; on any
    failure the temporary folders, and any folder made for the targets, are removed.

    Raises
    ------
    OutputError
        When a target or its temporary name cannot be written (the target is named).
    """
    paths = [Path(t) for t in targets]
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    done = False
    try:
        for path in paths:
            try:
                made += _make_folder(path.parent)
                staged.append(
                    (path, Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent)))
                )
            except OSError as exc:
                raise cannot_write(path, exc) from exc
        try:
            yield [tmp / path.name for path, tmp in staged]
        except OSError as exc:
            raise cannot_write(_failed(exc, staged), exc) from exc
        for path, tmp in staged:
            _commit(tmp, path)
        done = True
    finally:
        for _, tmp in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            _remove_empty(made)


def _failed(exc: OSError, staged: list[tuple[Path, Path]]) -> Path:
    """Which target a write error was about (the first one when it cannot be told)."""
    name = str(exc.filename or "")
    for path, tmp in staged:
        if name.startswith(str(tmp)):
            return path
    return staged[0][0]


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a path in a temporary folder beside ``target``; move it in on success only.

    Multi-file formats (a Shapefile's ``.shp``, ``.shx``, ``.dbf``, ``.prj``…) move together;
    each file is renamed atomically, and nothing is moved if writing failed.

    Raises
    ------
    OutputError
        When writing fails (no space, permission denied…); nothing is left.
    """
    with atomic_paths([target]) as (path,):
        yield path


@contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder inside ``target``; move its files into ``target`` on success.

    For outputs that are a set of files in one folder (notice sheets): none of them appears
    unless all were written. Files already in ``target`` under other names are kept.

    Raises
    ------
    OutputError
        When writing fails; nothing is left (a ``target`` folder made here is removed too).
    """
    folder = Path(target)
    made: list[Path] = []
    tmp: Path | None = None
    done = False
    try:
        try:
            made = _make_folder(folder)
            tmp = Path(tempfile.mkdtemp(prefix=".staged.", dir=folder))
        except OSError as exc:
            raise cannot_write(folder, exc) from exc
        try:
            yield tmp
        except OSError as exc:
            raise cannot_write(folder, exc) from exc
        for written in sorted(tmp.iterdir()):
            os.replace(written, folder / written.name)
        done = True
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            _remove_empty(made)


def write_layers(
    target: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
    *,
    crs: str | int | pyproj.CRS = 4326,
) -> Path:
    """Write several layers into one GeoPackage (or the first layer into another format).

    Parameters
    ----------
    target
        Output file; its suffix picks the format (``.gpkg``, ``.geojson``, ``.shp``,
        ``.parquet``). Only GeoPackage holds several layers.
    layers
        Layer name → GeoDataFrame (any CRS); empty layers are skipped. A plain DataFrame
        (no geometry) is written as an attribute table (GeoPackage only).
    crs
        CRS of the written geometries (default EPSG:4326, WGS 84).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(target)
    driver = OUTPUT_DRIVERS.get(target.suffix.lower())
    if driver is None:
        msg = (
            f"cannot write {target.name}: unknown output format {target.suffix!r}; use .gpkg, "
            ".geojson, .shp or .parquet"
        )
        raise OptionError(msg)
    written = [(name, gdf) for name, gdf in layers.items() if gdf is not None and len(gdf)]
    if driver != "GPKG":
        written = written[:1]
    with atomic_path(target) as tmp:
        try:
            for name, gdf in written:
                _write_layer(tmp, name, gdf, driver=driver, crs=crs)
        except WRITE_ERRORS as exc:  # GDAL/SQLite: "database or disk is full", …
            raise cannot_write(target, exc) from exc
    return target


WRITE_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, sqlite3.Error)
"""What the GDAL and SQLite writers raise when a file cannot be written (OSError aside)."""


def _write_layer(
    tmp: Path,
    name: str,
    gdf: gpd.GeoDataFrame | pd.DataFrame,
    *,
    driver: str,
    crs: str | int | pyproj.CRS,
) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        if driver == "GPKG":
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver=driver)
        return
    out = gdf.to_crs(crs)
    if driver == "parquet":
        out.to_parquet(tmp)
    else:
        out.to_file(tmp, layer=name, driver=driver, engine="pyogrio")


def write_json(target: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON report atomically (UTF-8, readable Chinese)."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write a text file (e.g. an HTML map) atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, "utf-8")
    return Path(target)
