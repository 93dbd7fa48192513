"""Reading and checking the standard-address table (标准地址), and the keys it is indexed by.

A table is refused whole (nothing is stored) when a column is missing, an address is empty,
or a coordinate is not a number or lies outside its CRS's range; each message names the row.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from gis.errors import AddressError
from gis.geometry.coords import to_wgs84
from gis.serving.addresses.parse import parse_address
from gis.serving.addresses.text import normalize_address

ADDRESS_COLUMNS: Final = (
    "address", "region", "street", "compound", "door_number", "building", "unit", "room",
    "building_id",
)  # fmt: skip
KEY_COLUMNS: Final = (
    "k_norm", "k_body", "k_admin", "road", "k_door", "place", "k_building", "k_unit",
    "k_floor", "k_room", "k_extra",
)  # fmt: skip
"""Index keys of each row; ``road`` and ``place`` are names (the store keeps their ids)."""
GEOGRAPHIC: Final = ("wgs84", "cgcs2000", "gcj02", "bd09", "epsg:4326", "epsg:4490")
PARALLEL_ROWS: Final = 200_000


def _check_range(lon: np.ndarray, lat: np.ndarray, table: pd.DataFrame, what: str) -> None:
    bad = ~((np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (
            f"address table row {i} ({table['address'].iloc[i]}): {what} ({lon[i]}, {lat[i]}) "
            "is out of range (longitude −180…180, latitude −90…90); check the columns and --crs"
        )
        raise AddressError(msg)


def read_address_table(
    frame: pd.DataFrame, *, crs: str = "wgs84", allow_empty: bool = False
) -> pd.DataFrame:
    """The standard-address table from a CSV-like frame, points converted to WGS 84.

    Parameters
    ----------
    frame
        Columns ``address`` and ``lon``/``lat`` (or ``x``/``y``), optionally region, street,
        compound, door_number, building, unit, room, building_id.
    crs
        CRS of the coordinates (wgs84, cgcs2000, gcj02, bd09, EPSG:nnnn).
    allow_empty
        Accept a table without rows (a header only).

    Raises
    ------
    AddressError
        Missing columns, no rows, empty addresses, coordinates that are not numbers or lie
        out of range.
    """
    cols = {str(c).strip().lower(): c for c in frame.columns}
    x_name = next((cols[c] for c in ("lon", "lng", "longitude", "x") if c in cols), None)
    y_name = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
    if "address" not in cols or x_name is None or y_name is None:
        msg = f"address table needs columns address, lon, lat; columns seen: {list(frame.columns)}"
        raise AddressError(msg)
    if frame.empty and not allow_empty:
        msg = "address table has no rows (a header only); nothing was changed"
        raise AddressError(msg)
    out = pd.DataFrame({c: frame[cols[c]] if c in cols else None for c in ADDRESS_COLUMNS})
    out["address"] = out["address"].astype(str).str.strip()
    empty = out["address"].isin(["", "nan", "None"])
    if empty.any():
        raise AddressError(f"address table row {int(np.flatnonzero(empty)[0])} has no address")
    x = pd.to_numeric(frame[x_name], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(frame[y_name], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"address table row {i} ({out['address'].iloc[i]}): coordinates are not numbers"
        raise AddressError(msg)
    if crs.strip().lower() in GEOGRAPHIC:
        _check_range(x, y, out, f"point in {crs}")
    lon, lat = to_wgs84(x, y, crs)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if not (np.isfinite(lon) & np.isfinite(lat)).all():
        raise AddressError(f"address table: some points cannot be converted from {crs}")
    _check_range(lon, lat, out, "point in WGS 84")
    out["lon"], out["lat"] = lon, lat
    return out


def read_address_csv(
    path: str | Path, *, crs: str = "wgs84", allow_empty: bool = False
) -> pd.DataFrame:
    """:func:`read_address_table` of a UTF-8 CSV file (BOM accepted)."""
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise AddressError(f"cannot read address CSV {path}: {exc}") from exc
    return read_address_table(frame, crs=crs, allow_empty=allow_empty)


def _keys(chunk: list[tuple[str, str]]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for address, region in chunk:
        normal = normalize_address(address)
        p = parse_address(normal, normalized=True)
        if not p.admin_code and region:
            p = parse_address(normalize_address(region) + normal, normalized=True)
        out.append((
            normal, p.body, p.admin, p.road, p.door, p.place, p.building, p.unit, p.floor,
            p.room, p.extra,
        ))  # fmt: skip
    return out


def address_keys(table: pd.DataFrame, *, workers: int | None = None) -> pd.DataFrame:
    """The index keys (:data:`KEY_COLUMNS`) of every row of an address table.

    Large tables are parsed in worker processes (``workers``, default: the CPUs).
    """
    region = table["region"] if "region" in table else pd.Series([""] * len(table))
    pairs = list(
        zip(
            table["address"].astype(str).tolist(),
            region.fillna("").astype(str).replace({"None": "", "nan": ""}).tolist(),
            strict=True,
        )
    )
    n_workers = workers or os.cpu_count() or 1
    if len(pairs) < PARALLEL_ROWS or n_workers < 2:
        rows = _keys(pairs)
    else:
        size = -(-len(pairs) // (n_workers * 8))
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        import multiprocessing  # noqa: PLC0415

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            rows = [r for part in pool.map(_keys, chunks) for r in part]
    return pd.DataFrame(rows, columns=list(KEY_COLUMNS), index=table.index)
