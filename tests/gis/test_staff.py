"""Staff rosters: every role in three spellings, posts on grids, cells and units, one worker
per grid, ID numbers checked and dropped, the staffing report."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from gis import columns as col
from gis.errors import RosterError, RosterProblems
from gis.rules.staff import (
    ID_CHECK,
    ID_WEIGHTS,
    PUBLIC_FIELDS,
    ROLE_LABELS,
    ROLE_SET,
    TRADITIONAL,
    Targets,
    check_name,
    check_phone,
    check_post,
    check_role,
    grids_without_worker,
    parse_role,
    public_roster,
    read_roster,
    unit_levels,
)
from gis.rules.staff_report import staff_report

GRIDS = pd.DataFrame(
    {col.GRID_CODE: ["A01", "A02", "A03", "D01"], col.KIND: ["ordinary"] * 3 + ["dedicated"],
     col.HOUSEHOLDS: [400, 350, 500, 0]}
)  # fmt: skip
TARGETS = Targets(
    grids=frozenset(GRIDS[col.GRID_CODE]),
    cells=frozenset({"A0101"}),
    units={"310101002001": "community", "310101002": "town"},
)


def resident_id(body: str) -> str:
    """A well-formed resident ID for 17 digits (the GB 11643 check character appended)."""
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return body + ID_CHECK[total % 11]


def traditional(text: str) -> str:
    """``text`` with the role characters written in Traditional script."""
    back = {s: t for t, s in ((chr(t), chr(s)) for t, s in TRADITIONAL.items())}
    return "".join(back.get(c, c) for c in text)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_in_chinese_and_english_and_private_columns_dropped(tmp_path: Path) -> None:
    ids = [resident_id(f"3101011990010112{i}") for i in range(3)]
    path = write(
        tmp_path,
        "grid_code,name,role,phone,photo,id_number,home_address\n"
        f"A01,张三,专职网格员,13800000001,p/zs.jpg,{ids[0]},某路1号\n"
        f"A02,李四,part-time worker,13800000002,,{ids[1]},某路2号\n"
        f"A01,王五,網格長,13800000003,,{ids[2]},某路3号\n",
    )
    roster = read_roster(path, targets=TARGETS)
    assert roster["role"].tolist() == ["worker", "worker", "leader"]
    assert roster["duty"].tolist() == ["full_time", "part_time", None]
    assert roster["role_label"].tolist() == ["专职网格员", "兼职网格员", "网格长"]
    assert list(roster.columns) == list(PUBLIC_FIELDS)
    assert list(public_roster(roster).columns) == [
        "grid_code", "cell_code", "unit_code", "name", "role", "role_label", "duty", "phone",
        "photo",
    ]  # fmt: skip
    text = roster.to_csv()
    assert not any(i in text for i in ids)
    assert "某路" not in text


@pytest.mark.parametrize("key", sorted(ROLE_SET))
def test_every_role_is_read_in_simplified_traditional_and_english(key: str) -> None:
    role = ROLE_SET[key]
    for name in (role.label, *role.names):
        assert parse_role(name)[0] == key
        assert parse_role(traditional(name))[0] == key
    assert check_role(role.english.upper()) == key
    assert check_role(key) == key
    label = ROLE_LABELS[key]
    assert not set(label) & {chr(t) for t in TRADITIONAL}  # users read Simplified only


def test_full_and_part_time_are_one_role_with_a_duty() -> None:
    assert parse_role("專職網格員") == ("worker", "full_time")
    assert parse_role("兼职网格员") == ("worker", "part_time")
    assert parse_role("full-time worker") == ("worker", "full_time")
    assert parse_role("网格员") == ("worker", None)
    assert parse_role("网格长") == ("leader", None)


def test_posts_on_cells_and_units_and_the_roles_they_may_hold(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grid_code,cell_code,unit_code,name,role,phone\n"
        ",A0101,,赵微,微网格员,13800000004\n"
        ",A0101,,钱信,單元格信息員,13800000005\n"
        ",,310101002001,孙书记,社區書記,021-12345678\n"
        ",,310101002,李主任,街道办事处主任,021-12345679\n",
    )
    roster = read_roster(path, targets=TARGETS)
    assert roster["role"].tolist() == [
        "micro_worker", "cell_informant", "community_secretary", "town_head"
    ]  # fmt: skip
    assert roster["cell_code"].tolist() == ["A0101", "A0101", "", ""]
    assert roster["unit_code"].tolist() == ["", "", "310101002001", "310101002"]
    check_post("building_head", "cell")
    for role, serves, level, words in [
        ("micro_worker", "grid", None, "serves a unit cell, not a grid"),
        ("community_secretary", "grid", None, "serves a unit, not a grid"),
        ("community_secretary", "unit", "town", "is a contact of a community"),
        ("town_head", "unit", "community", "is a contact of a town"),
    ]:
        with pytest.raises(RosterError, match=words):
            check_post(role, serves, level)


def test_every_bad_row_is_named_with_its_line(tmp_path: Path) -> None:
    person = resident_id("31010119900101123")
    path = write(
        tmp_path,
        "grid_code,cell_code,unit_code,name,role,phone,身份证号\n"
        f"A01,,,张三,网格员,13800000001,{person}\n"
        f"A02,,,张三,网格员,13800000001,{person}\n"  # the same person on a second grid: fine
        f"A02,,,张叁,网格员,13800000009,{person}\n"  # another name for the same ID
        f"A01,,,张三,网格员,13800000001,{person}\n"  # the same post twice
        "A01,,,李四,网格员,13800000002,310101199001011235\n"  # wrong check character
        "Z99,,,王五,网格员,13800000003,\n"
        "A01,,,赵六,emperor,13800000004,\n"
        ",,310101002001,孙七,微网格员,13800000005,\n"
        "A01,A0101,,周八,网格员,13800000006,\n",
    )
    with pytest.raises(RosterProblems) as caught:
        read_roster(path, targets=TARGETS)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "roster line 4 (张叁)", "roster line 5 (张三)", "roster line 6 (李四)",
        "roster line 7 (王五)", "roster line 8 (赵六)", "roster line 9 (孙七)",
        "roster line 10 (周八)",
    ]  # fmt: skip
    assert "same ID to '张三'" in problems[0]
    assert "holds this post at line 2" in problems[1]
    assert "wrong check character" in problems[2]
    assert "grid 'Z99' does not exist in the plan" in problems[3]
    assert "unknown role 'emperor'" in problems[4]
    assert "serves a unit cell, not a unit" in problems[5]
    assert "exactly one of grid_code, cell_code or unit_code" in problems[6]
    assert not any(person in p for p in problems)  # an ID number is never echoed


def test_grids_without_a_worker_are_reported_dedicated_included(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "grid_code,name,role,phone\nA01,张三,网格员,13800000001\nA02,王五,网格长,021-12345678\n",
    )
    roster = read_roster(path)
    assert grids_without_worker(roster, GRIDS) == ["A02", "A03", "D01"]
    assert grids_without_worker(roster, GRIDS, dedicated=False) == ["A02", "A03"]


def test_the_report_counts_each_workers_grids_and_households() -> None:
    roster = pd.DataFrame(
        {col.GRID_CODE: ["A01", "A02", "A03", "A01", ""], "cell_code": ["", "", "", "", "A0101"],
         "name": ["张三", "张三", "李四", "王五", "张三"],
         "role": ["worker", "worker", "worker", "leader", "micro_worker"],
         "phone": ["13800000001"] * 2 + ["13800000002", "13800000003", "13800000001"]}
    )  # fmt: skip
    report = staff_report(roster, GRIDS)
    assert report.without_worker == [{"grid_code": "D01", "kind": "dedicated", "households": 0}]
    assert len(report.holders) == 1
    holder = report.holders[0]
    assert (holder.name, holder.grids, holder.households) == ("张三", ["A01", "A02"], 750)
    assert report.to_dict()["holders"][0]["households"] == 750


def test_a_town_known_only_by_its_communities_code_may_be_staffed() -> None:
    units = {"310101002001": {"unit_name": "社区", "level": "community", "parent_code": None}}
    levels = unit_levels(units, ["310101002001", "310101003001"])
    assert levels["310101002001"] == "community"
    assert levels["310101003001"] == "community"
    assert levels["310101003"] == "town"


def test_a_roster_naming_a_grid_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "grid_code,name,role,phone\nZ99,张三,网格员,13800000001\n")
    with pytest.raises(RosterError, match=r"grid 'Z99' does not exist in the plan"):
        read_roster(path, grid_codes=set(GRIDS[col.GRID_CODE]))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("grid_code,name,phone\nA01,张三,13800000001\n", "lacks columns ['role']"),
        ("name,role,phone\n张三,网格员,13800000001\n", "one of grid_code/cell_code/unit_code"),
        ("grid_code,name,role,phone\nA01,张三,boss,13800000001\n", "unknown role 'boss'"),
        ("grid_code,name,role,phone\nA01,,网格员,13800000001\n", "name '' is not usable"),
        ("grid_code,name,role,phone\nA01,张三,网格员,1\n", "line 2 (张三): phone '1' is not a"),
        ("grid_code,name,role,phone\nA01,张三,网格员,call me\n", "is not a phone number"),
        ("grid_code,name,role,phone,duty\nA01,张三,网格长,13800000001,专职\n", "网格员 only"),
        ("grid_code,name,role,phone,duty\nA01,张三,兼职网格员,13800000001,专职\n", "disagree"),
    ],
)
def test_malformed_rosters_are_refused(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(RosterError, match=re.escape(words)):
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
