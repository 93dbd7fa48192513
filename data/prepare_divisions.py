"""Build ``gis/serving/addresses/divisions.tsv``, the administrative division names the address
parser matches prefixes against, from the data shipped by the ``jionlp`` package.

Maintainer script, run when the division list should be refreshed; the output is committed and
read at run time (no network, no jionlp at run time)::

    pip download --no-deps jionlp -d /tmp/jionlp
    python data/prepare_divisions.py /tmp/jionlp/jionlp-*.whl

Source: jionlp (https://github.com/dongrixinyu/JioNLP), Apache License 2.0, file
``jionlp/dictionary/china_location.zip``: provinces, prefecture-level cities and counties with
their GB/T 2260 codes and short names, and the township-level divisions (乡、镇、街道) under
each county as listed in the statistical division codes (统计用区划代码). Village- and
community-level names (the fifth level) are left out: the parser reads those by their suffix.
See data/README.md for the attribution.
"""

from __future__ import annotations

import argparse
import csv
import io
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE.parent / "gis" / "serving" / "addresses" / "divisions.tsv"
MEMBER = "jionlp/dictionary/china_location.zip"
LEVELS = ("province", "city", "county", "town")
PSEUDO = ("市直辖行政区划", "省直辖行政区划", "省直辖县级行政区划")


def read_locations(wheel: Path) -> list[str]:
    """The lines of ``china_location.txt`` inside a jionlp wheel (or an unpacked package)."""
    if wheel.is_dir():
        data = (wheel / MEMBER.removeprefix("jionlp/")).read_bytes()
    else:
        with zipfile.ZipFile(wheel) as whl:
            data = whl.read(MEMBER)
    with zipfile.ZipFile(io.BytesIO(data)) as inner:
        text = inner.read("china_location.txt").decode("utf-8")
    return text.splitlines()


def divisions(lines: list[str]) -> list[tuple[str, str, str, str, str]]:
    """Rows ``(level, code, name, short, parent_code)``, towns keyed by their county's code."""
    rows: list[tuple[str, str, str, str, str]] = []
    parents = ["", "", "", ""]
    for line in lines:
        depth = len(line) - len(line.lstrip("\t"))
        fields = line.strip("\t").split("\t")
        if depth >= len(LEVELS) or not fields[0]:
            continue
        name = fields[0]
        code = fields[1] if len(fields) > 1 else ""
        short = fields[2] if len(fields) > 2 else ""
        parent = parents[depth - 1] if depth else ""
        if depth < 3:
            parents[depth] = code
        if name in PSEUDO:
            continue
        rows.append((LEVELS[depth], code, name, short if short != name else "", parent))
    return rows


def main() -> None:
    """Write the TSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="jionlp wheel, or the unpacked jionlp folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = sorted(
        set(divisions(read_locations(args.wheel))),
        key=lambda r: (LEVELS.index(r[0]), r[4], r[1], r[2]),
    )
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(("level", "code", "name", "short", "parent"))
        writer.writerows(rows)
    print(f"wrote {len(rows)} divisions to {args.out}")


if __name__ == "__main__":
    main()
