"""Staff rosters: roles in two languages, one worker per grid, public fields only."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from gis import columns as col
from gis.errors import RosterError
from gis.rules.staff import (
    check_name,
    check_phone,
    check_role,
    grids_without_worker,
    public_roster,
    read_roster,
)

GRIDS = pd.DataFrame(
    {col.GRID_CODE: ["A01", "A02", "A03", "D01"], col.KIND: ["ordinary"] * 3 + ["dedicated"]}
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_in_chinese_and_english_and_private_columns_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grid_code,name,role,phone,photo,id_number\n"
        "A01,张三,网格员,13800000001,p/zs.jpg,310101199001011234\n"
        "A02,李四,worker,13800000002,,310101199001011235\n"
        "A01,王五,網格長,13800000003,,310101199001011236\n",
    )
    roster = read_roster(path, grid_codes=set(GRIDS[col.GRID_CODE]))
    assert roster["role"].tolist() == ["worker", "worker", "leader"]
    assert roster["role_label"].tolist() == ["网格员", "网格员", "网格长"]
    assert "id_number" not in roster
    assert list(public_roster(roster).columns) == [
        "grid_code", "name", "role", "role_label", "phone", "photo"
    ]  # fmt: skip


def test_grids_without_a_worker_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grid_code,name,role,phone\nA01,张三,网格员,13800000001\nA02,王五,网格长,021-12345678\n",
    )
    roster = read_roster(path)
    assert grids_without_worker(roster, GRIDS) == ["A02", "A03"]  # dedicated D01 is exempt


def test_a_roster_naming_a_grid_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "grid_code,name,role,phone\nZ99,张三,网格员,13800000001\n")
    with pytest.raises(RosterError, match=r"do not exist in the plan: \['Z99'\]"):
        read_roster(path, grid_codes=set(GRIDS[col.GRID_CODE]))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("grid_code,name,phone\nA01,张三,13800000001\n", "lacks columns ['role']"),
        ("grid_code,name,role,phone\nA01,张三,boss,13800000001\n", "unknown roles ['boss']"),
        ("grid_code,name,role,phone\nA01,,网格员,13800000001\n", "have no name"),
        ("grid_code,name,role,phone\nA01,张三,网格员,1\n", "row 0: phone '1' is not a phone"),
        ("grid_code,name,role,phone\nA01,张三,网格员,call me\n", "is not a phone number"),
    ],
)
def test_malformed_rosters_are_refused(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(RosterError, match=words.replace("[", r"\[").replace("]", r"\]")):
        read_roster(write(tmp_path, text))


@pytest.mark.parametrize(
    "phone",
    ["13800000000", "+86 138 0000 0000", "021-12345678", "0755-1234567", "021-12345678转123",
     "400-123-4567", "12345", "110", "１３８００００００００"],
)  # fmt: skip
def test_phones_that_can_be_dialled_are_kept(phone: str) -> None:
    assert check_phone(phone) == unicodedata.normalize("NFKC", phone).strip()


@pytest.mark.parametrize("phone", ["1", "abc", "1" * 10_000, "123456789012345", "+1 555 0100"])
def test_phones_that_cannot_be_dialled_are_refused_in_one_short_line(phone: str) -> None:
    with pytest.raises(RosterError, match="is not a phone number") as caught:
        check_phone(phone)
    assert len(str(caught.value)) < 200
    assert "\n" not in str(caught.value)


def test_roles_are_known_roles_and_names_one_line() -> None:
    assert [check_role(r) for r in ("网格员", "網格員", "Worker", "leader")] == [
        "worker", "worker", "worker", "leader"
    ]  # fmt: skip
    for bad in ("emperor", "", "网格员x"):
        with pytest.raises(RosterError, match="unknown role"):
            check_role(bad)
    assert check_name(" 王芳 ") == "王芳"
    for bad in ("", "  ", "王\n芳", "王" * 51):
        with pytest.raises(RosterError, match="name"):
            check_name(bad)
