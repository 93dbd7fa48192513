"""How compact can in-band grids of one walled compound be? An exhaustive check.

For a unit that is a single block above the maximum (the Beijing sample: one campus, 1,952
households, no street inside), the peers return the whole block as one grid, so their mean
Polsby–Popper is the block's own. This script asks what any plan of ``k`` in-band grids made
by straight cuts can reach: it tries every first cut along and across the block's axes and,
on each side, every second cut (a grid of ``--steps`` offsets each), keeps only layouts whose
four grids hold ``--min``–``--max`` households, and prints the best mean Polsby–Popper twice:
with straight cuts that go through buildings (not allowed, an upper bound) and with the cuts
bent around every building they cross (:func:`gis.cutting.guillotine.cut_across`, what wangge does).

Usage::

    python bench/compound_ceiling.py data/beijing_bupt.gpkg
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gis import columns as col  # noqa: E402
from gis.cutting.guillotine import axis, cut_across  # noqa: E402
from gis.cutting.split import block_angle  # noqa: E402
from gis.inputs.prepare import prepare_blocks  # noqa: E402


def polsby_popper(geom: shapely.Geometry) -> float:
    return float(4 * np.pi * geom.area / geom.length**2) if geom.length > 0 else 0.0


def halves(
    poly: shapely.Geometry, fps: np.ndarray, theta: float, t: float, *, bend: bool
) -> tuple[shapely.Geometry, shapely.Geometry]:
    if bend:
        return cut_across(poly, fps, theta, t)
    return cut_across(poly, np.empty(0, dtype=object), theta, t)


def best_2x2(
    block: shapely.Geometry,
    fps: np.ndarray,
    xy: np.ndarray,
    hh: np.ndarray,
    lo: int,
    hi: int,
    steps: int,
    *,
    bend: bool,
) -> tuple[float, list[int]]:
    """Best mean Polsby–Popper over two-level layouts of four in-band grids."""
    angle = block_angle(block)
    best = (0.0, [0])
    for first, second in ((angle + 90.0, angle), (angle, angle + 90.0)):
        u1 = axis(first)
        s = shapely.get_coordinates(block) @ u1
        for t1 in np.linspace(s.min(), s.max(), steps)[1:-1]:
            a, b = halves(block, fps, first, t1, bend=bend)
            if a.is_empty or b.is_empty:
                continue
            side = xy @ u1 < t1
            sides = [
                best_second_cut(piece, fps, xy, hh, mask, second, (lo, hi), steps, bend=bend)
                for piece, mask in ((a, side), (b, ~side))
            ]
            if all(x is not None for x in sides):
                mean = sum(x[0] for x in sides if x) / 4
                if mean > best[0]:
                    best = (mean, [h for x in sides if x for h in x[1]])
    return best


def best_second_cut(
    piece: shapely.Geometry,
    fps: np.ndarray,
    xy: np.ndarray,
    hh: np.ndarray,
    mask: np.ndarray,
    theta: float,
    band: tuple[int, int],
    steps: int,
    *,
    bend: bool,
) -> tuple[float, list[int]] | None:
    """Best sum of Polsby–Popper of two in-band grids cut from ``piece`` across ``theta``.

    ``mask`` marks the household anchors ``xy`` lying in ``piece``; None when no cut gives
    two grids in the band ``(lo, hi)``.
    """
    lo, hi = band
    u2 = axis(theta)
    s2 = shapely.get_coordinates(piece) @ u2
    top: tuple[float, list[int]] | None = None
    inside = fps[shapely.area(shapely.intersection(fps, piece)) > 0]
    for t2 in np.linspace(s2.min(), s2.max(), steps)[1:-1]:
        h1 = int(hh[mask & (xy @ u2 < t2)].sum())
        h2 = int(hh[mask].sum()) - h1
        if not (lo <= h1 <= hi and lo <= h2 <= hi):
            continue
        left, right = halves(piece, inside, theta, t2, bend=bend)
        if left.is_empty or right.is_empty:
            continue
        score = polsby_popper(left) + polsby_popper(right)
        if top is None or score > top[0]:
            top = (score, [h1, h2])
    return top


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gpkg", type=Path, help="a conventional GeoPackage of one compound")
    parser.add_argument("--min", type=int, default=300)
    parser.add_argument("--max", type=int, default=800)
    parser.add_argument("--steps", type=int, default=60, help="offsets tried per cut")
    args = parser.parse_args(argv)
    bs = prepare_blocks(args.gpkg).blockset
    if len(bs.blocks) != 1:
        parser.error(f"{args.gpkg} has {len(bs.blocks)} blocks; this check is for one compound")
    block = bs.blocks.geometry.iloc[0]
    fps = bs.buildings.geometry.to_numpy()
    xy = shapely.get_coordinates(shapely.point_on_surface(fps))
    hh = bs.buildings[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    print(
        f"{args.gpkg.name}: one block, {int(hh.sum()):,} households, {len(fps)} buildings; "
        f"the block as one grid: Polsby–Popper {polsby_popper(block):.3f}"
    )
    for bend in (False, True):
        started = time.perf_counter()
        mean, households = best_2x2(block, fps, xy, hh, args.min, args.max, args.steps, bend=bend)
        label = "cuts bent around buildings" if bend else "straight cuts through buildings"
        print(
            f"  best 2×2 layout, {label:<32}: mean Polsby–Popper {mean:.3f} "
            f"(households {households}; {time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()
