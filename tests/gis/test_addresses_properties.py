"""Properties of address parsing (hypothesis), the labelled SYNTHETIC query set (a small copy
of bench/addresses.py's), and the registry's import rules on both stores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.errors import AddressError
from gis.serving.addresses import (
    AddressMatcher,
    address_keys,
    normalize_address,
    parse_address,
    read_address_table,
)
from gis.serving.addresses.divisions import match_prefix
from gis.serving.addresses.synthetic import (
    PLACE_STEMS,
    PLACE_WORDS,
    ROAD_STEMS,
    labelled_queries,
    score_answers,
    synthetic_table,
)
from gis.store.addresses import SqliteRegistry, check_import, open_registry

ROAD_WORDS = ("路", "大道", "街", "大街", "巷")
DIRECTIONS = ("", "东", "西", "南", "北", "中", "东一", "西二")
PREFIXES = ("", "上海市", "上海市黄浦区", "黄浦区", "浦东新区", "上海市浦东新区陆家嘴街道")
CHARS = st.sampled_from(list("和平幸福康乐阳光金色翠湖锦绣碧水绿洲明珠东方紫荆园区新里华"))
road = st.builds(
    lambda s, d, w: s + d + w,
    st.sampled_from(ROAD_STEMS), st.sampled_from(DIRECTIONS), st.sampled_from(ROAD_WORDS),
)  # fmt: skip
place = st.builds(
    lambda s, extra, w: s + extra + w,
    st.sampled_from(PLACE_STEMS), st.text(CHARS, max_size=2), st.sampled_from(PLACE_WORDS),
)  # fmt: skip
numbers = st.tuples(*(st.integers(1, 30) for _ in range(3)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PREFIXES), road, st.integers(1, 999), place, numbers)
def test_parsing_never_drops_a_compound_or_road(
    prefix: str, road_name: str, door: int, place_name: str, nums: tuple[int, int, int]
) -> None:
    b, u, r = nums
    parts = parse_address(f"{prefix}{road_name}{door}号{place_name}{b}号楼{u}单元{r}01室")
    assert parts.road == normalize_address(road_name)
    assert parts.place == normalize_address(place_name)
    assert (parts.door, parts.building, parts.unit, parts.room) == (
        f"{door}号", str(b), str(u), f"{r}01",
    )  # fmt: skip
    alone = parse_address(f"{place_name}{b}号楼{u}单元{r}01室")
    if match_prefix(normalize_address(place_name))[0]:
        # the generated name starts with a real division (和平 + 区 + 华庭 reads 和平区 华庭,
        # a district of Tianjin and of Shenyang): at the head of an address that is what it is
        assert alone.county
        return
    assert alone.place == normalize_address(place_name)


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalize_address(text)
    assert normalize_address(once) == once


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PREFIXES), road, st.integers(1, 99), place, numbers)
def test_normalising_real_forms_twice_changes_nothing(
    prefix: str, road_name: str, door: int, place_name: str, nums: tuple[int, int, int]
) -> None:
    b, u, r = nums
    forms = (
        f"{prefix}{road_name}{door}號{place_name}{b}幢{u}-{r}01",
        f"{prefix}{road_name}{door}号 {b}-{u}-{r}01",
        f"{place_name}{b}座{r}01房",
    )
    for text in forms:
        once = normalize_address(text)
        assert normalize_address(once) == once
        assert parse_address(once, normalized=True) == parse_address(text)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, AddressMatcher]:
    raw = synthetic_table(12_000, seed=5)
    table = read_address_table(raw)
    registry = SqliteRegistry(tmp_path_factory.mktemp("syn") / "s.registry.sqlite")
    registry.import_addresses(table, address_keys(table), replace=True)
    return raw, AddressMatcher(registry)


def test_labelled_queries_small_copy(synthetic: tuple[pd.DataFrame, AddressMatcher]) -> None:
    raw, matcher = synthetic
    labelled = labelled_queries(raw, 400, seed=6)
    assert len({x.form for x in labelled}) >= 15
    answers = matcher.lookup_many([x.query for x in labelled])
    scored = score_answers(
        labelled, [(a.match, [str(c.row["address"]) for c in a.answer]) for a in answers]
    )
    assert scored["top1"] >= 0.99
    assert scored["wrong_confident"] <= 0.002


def _import_rules(registry: object, table: pd.DataFrame) -> None:
    keys = address_keys(table)
    registry.import_addresses(table, keys, replace=True)  # type: ignore[attr-defined]
    assert registry.count_addresses() == len(table)  # type: ignore[attr-defined]
    again = table.iloc[:2].assign(lon=table["lon"].iloc[:2] + 1e-4)
    registry.import_addresses(again, address_keys(again))  # type: ignore[attr-defined]
    stored = registry.read_addresses()  # type: ignore[attr-defined]
    assert len(stored) == len(table)  # updated, not added twice
    with pytest.raises(AddressError, match="no rows"):
        check_import(table.iloc[:0], replace=True, allow_empty=False)
    with pytest.raises(AddressError, match="adds nothing"):
        check_import(table.iloc[:0], replace=False, allow_empty=True)
    bad = pd.concat([table, table.iloc[:1]]).reset_index(drop=True)
    bad_keys = address_keys(bad).assign(k_body=None)  # NOT NULL in neither store: make it fail
    bad_keys.loc[0, "road"] = None
    with pytest.raises(Exception):  # noqa: B017, PT011 - any failure must leave the table
        registry.import_addresses(  # type: ignore[attr-defined]
            bad.assign(address=[None, *bad["address"].iloc[1:]]), bad_keys, replace=True
        )
    assert registry.count_addresses() == len(table)  # type: ignore[attr-defined]


def test_import_rules_embedded(tmp_path: Path) -> None:
    table = read_address_table(synthetic_table(300, seed=1))
    registry = open_registry(tmp_path / "p.gpkg")
    _import_rules(registry, table)
    registry.close()


@pytest.mark.postgis
def test_import_rules_postgis(pg_schema) -> None:  # type: ignore[no-untyped-def]
    from gis.store import open_store  # noqa: PLC0415

    open_store(pg_schema.url, schema=pg_schema.schema).close()
    table = read_address_table(synthetic_table(300, seed=1))
    registry = open_registry(pg_schema.url, schema=pg_schema.schema)
    _import_rules(registry, table)
    matcher = AddressMatcher(registry)
    row = table.iloc[5]
    assert matcher.lookup(str(row["address"])).match in ("exact", "probable")
    typo = str(table["street"].iloc[0])[:-1] + "街"
    assert registry.similar_names([typo], 5)[typo]
    registry.close()


def _answers(matches: list) -> list[tuple[str, list[str]]]:  # type: ignore[type-arg]
    return [(m.match, [str(c.row["address"]) for c in m.answer]) for m in matches]


def _alone_and_batched(registry: object, table: pd.DataFrame, raw: pd.DataFrame) -> list:  # type: ignore[type-arg]
    registry.import_addresses(table, address_keys(table), replace=True)  # type: ignore[attr-defined]
    queries = [x.query for x in labelled_queries(raw, 150, seed=9)]
    batched = _answers(AddressMatcher(registry).lookup_many(queries))  # type: ignore[arg-type]
    alone = _answers([AddressMatcher(registry).lookup(q) for q in queries])  # type: ignore[arg-type]
    assert batched == alone
    assert {m for m, _ in batched} >= {"exact", "probable", "none"}
    return batched


@pytest.mark.postgis
def test_a_query_gets_one_answer_alone_or_in_a_batch_on_both_stores(
    tmp_path: Path,
    pg_schema,  # type: ignore[no-untyped-def]
) -> None:
    from gis.store import open_store  # noqa: PLC0415

    raw = synthetic_table(3_000, seed=4)
    table = read_address_table(raw)
    embedded = open_registry(tmp_path / "p.gpkg")
    open_store(pg_schema.url, schema=pg_schema.schema).close()
    postgis = open_registry(pg_schema.url, schema=pg_schema.schema)
    try:
        assert _alone_and_batched(embedded, table, raw) == _alone_and_batched(postgis, table, raw)
    finally:
        embedded.close()
        postgis.close()
