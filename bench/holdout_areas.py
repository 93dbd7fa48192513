"""Write HOLDOUT areas: demonstration units over parts of the raw Shanghai extract.

The partition must not be tuned to the three committed samples, so the benchmark can also run
on areas nobody looked at while tuning: windows over the raw OpenStreetMap extract
(``data/raw/shanghai_bund_lujiazui.gpkg``) that differ from the committed samples' windows,
cut along real streets exactly as ``data/prepare_samples.py`` cuts the samples. Units carry
``demo = 1`` and names ending "(留出演示)": they are not official boundaries. Data © OpenStreetMap
contributors, ODbL 1.0.

Usage::

    python bench/holdout_areas.py out/holdout          # writes out/holdout/*.gpkg
    python bench/partition.py --no-synthetic --gpkg out/holdout/*.gpkg
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from shapely.geometry import box

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: (file stem, unit code, name, window in EPSG:32651) — none equals a committed sample's window.
WINDOWS = [
    (
        "holdout_puxi_north",
        "310106001001",
        "外滩以北留出社区(留出演示)",
        (355300, 3457700, 356700, 3458340),
    ),
    (
        "holdout_pudong_north",
        "310115006001",
        "陆家嘴北留出社区(留出演示)",
        (357100, 3457000, 359100, 3458340),
    ),
    (
        "holdout_puxi_west",
        "310101003001",
        "人民广场东留出社区(留出演示)",
        (355300, 3455650, 355950, 3458340),
    ),
    (
        "holdout_lujiazui_south",
        "310115007001",
        "陆家嘴南留出社区(留出演示)",
        (356900, 3455650, 358300, 3456900),
    ),
]


def _prepare_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "prepare_samples", REPO / "data" / "prepare_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for the holdout GeoPackages")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    prep = _prepare_module()
    for stem, code, name, (x0, y0, x1, y1) in WINDOWS:
        path = args.out / f"{stem}.gpkg"
        prep.shanghai(out=path, windows=[(code, name, box(x0, y0, x1, y1))])
        print(path)


if __name__ == "__main__":
    main()
