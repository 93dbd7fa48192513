"""Writing outputs whole or not at all (gis.outputs.files): several outputs commit together,
nothing is left when one fails, and every failure is one line naming the target."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from gis.errors import OutputError
from gis.outputs.files import atomic_folder, atomic_paths, check_writable, write_json, write_text


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def write_three(targets: list[Path], *, fail: bool) -> None:
    """Write a GeoPackage stand-in, a report and a map together; the disk fills at the end."""
    with atomic_paths(targets) as (gpkg, report, html):
        write_text(gpkg, "layers")
        write_json(report, {"ok": True})
        html.write_text("<html>")
        if fail:
            raise OSError(errno.ENOSPC, "No space left on device", str(gpkg))


def test_several_outputs_appear_together_or_not_at_all(tmp_path: Path) -> None:
    targets = [tmp_path / "a.gpkg", tmp_path / "new" / "deeper" / "a.json", tmp_path / "m.html"]
    with pytest.raises(OutputError, match=r"cannot write .*a\.gpkg: no space left on the device"):
        write_three(targets, fail=True)
    assert listing(tmp_path) == []  # no output, no temporary folder, no folder made for one
    write_three(targets, fail=False)
    assert listing(tmp_path) == ["a.gpkg", "m.html", "new", "new/deeper", "new/deeper/a.json"]


def overwrite_then_fail(target: Path) -> None:
    with atomic_paths([target]) as (path,):
        path.write_text("new")
        raise ZeroDivisionError


def test_a_failure_that_is_not_a_write_error_also_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(ZeroDivisionError):
        overwrite_then_fail(tmp_path / "keep.txt")
    assert listing(tmp_path) == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "old"


def sheets(out: Path, *, fail: bool) -> None:
    with atomic_folder(out) as staged:
        (staged / "community.png").write_bytes(b"png")
        if fail:
            raise RuntimeError("the third sheet failed")


def test_a_folder_of_sheets_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "sheets"
    with pytest.raises(RuntimeError):
        sheets(out, fail=True)
    assert not out.exists()
    sheets(out, fail=False)
    assert listing(out) == ["community.png"]


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("/proc/nope/m.html", "cannot write /proc/nope/m.html"),
        ("{tmp}", "it is a folder"),
        ("{tmp}/file.txt/x.gpkg", "is a file, not a folder"),
    ],
)
def test_outputs_that_cannot_be_written_are_refused_before_any_work(
    tmp_path: Path, target: str, words: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match=words.replace(".", r"\.")) as caught:
        check_writable([Path(target.format(tmp=tmp_path))])
    assert "\n" not in str(caught.value)
    assert listing(tmp_path) == ["file.txt"]  # the probe left nothing
