"""The review cycle on both stores: draft → submitted → approved (live) or rejected; rollback;
self-approval refused; retired codes never given out again; every step in the audit log."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from store_plans import PlanFactory

from gis import columns as col
from gis.errors import (
    RetiredCodeError,
    ReviewError,
    SelfReviewError,
    ValidationErrors,
    VersionNotFoundError,
)
from gis.store import Store

POINT_IN_A00 = (121.4990, 31.2360)  # a point inside grid "?00" of the 3×3 plans


def _snapshot(store: Store) -> tuple[list[tuple[int, str, bool]], int]:
    """What a refused step must not change: every version's state and liveness, the log."""
    rows = [(v.id, v.state, v.live) for v in store.versions(drafts=True)]
    return rows, len(store.audit())


def test_cycle_submit_approve_reject(store: Store, plan: PlanFactory) -> None:
    live = store.publish(plan(3, prefix="A"), author="王芳")
    proposed = store.propose(plan(3, prefix="A"), author="王芳", note="调整")
    assert proposed.state == "submitted"
    assert proposed.valid_from is None
    assert not proposed.live
    # invisible to readers of approved versions: the live version and lookups are unchanged
    assert store.version().id == live.id
    assert [v.id for v in store.versions()] == [live.id]
    assert store.grid_at(*POINT_IN_A00) == "A00"
    with pytest.raises(VersionNotFoundError):
        store.read_grids(proposed.id)
    assert len(store.read_grids(proposed.id, drafts=True)) == 9

    approved = store.approve(proposed.id, reviewer="李强", note="同意")
    assert approved.state == "approved"
    assert approved.live
    assert approved.reviewer == "李强"
    assert store.version().id == proposed.id
    first = store.version(live.id)
    assert first.valid_to == approved.valid_from  # the valid times abut

    other = store.propose(plan(3, prefix="A"), author="王芳")
    rejected = store.reject(other.id, reviewer="李强", reason="户数不实")
    assert rejected.state == "rejected"
    assert rejected.review_note == "户数不实"
    assert store.version().id == proposed.id
    actions = [(e.action, e.actor, e.version_id) for e in store.audit()]
    assert actions == [
        ("publish", "王芳", live.id),
        ("submit", "王芳", proposed.id),
        ("approve", "李强", proposed.id),
        ("submit", "王芳", other.id),
        ("reject", "李强", other.id),
    ]
    assert store.audit(other.id)[-1].detail["reason"] == "户数不实"


def test_draft_is_submitted_before_approval(store: Store, plan: PlanFactory) -> None:
    draft = store.propose(plan(3), author="a", submit=False)
    assert draft.state == "draft"
    with pytest.raises(ReviewError, match="still a draft"):
        store.approve(draft.id, reviewer="b")
    submitted = store.submit(draft.id, author="a")
    assert submitted.state == "submitted"
    assert submitted.submitted_at is not None
    with pytest.raises(ReviewError, match="not a draft"):
        store.submit(draft.id, author="a")
    assert store.approve(draft.id, reviewer="b").live


def test_refused_steps_change_nothing(store: Store, plan: PlanFactory) -> None:
    store.publish(plan(3), author="a")
    proposed = store.propose(plan(3), author="a")
    before = _snapshot(store)
    with pytest.raises(SelfReviewError, match="author and reviewer must differ"):
        store.approve(proposed.id, reviewer="a")
    with pytest.raises(SelfReviewError):
        store.reject(proposed.id, reviewer=" A ", reason="no")  # the same person, any case
    with pytest.raises(ValidationErrors, match="reason"):
        store.reject(proposed.id, reviewer="b", reason="  ")
    with pytest.raises(ValidationErrors, match="reviewer"):
        store.approve(proposed.id, reviewer="")
    with pytest.raises(VersionNotFoundError):
        store.approve(99, reviewer="b")
    assert _snapshot(store) == before
    store.reject(proposed.id, reviewer="b", reason="退回")
    after_reject = _snapshot(store)
    with pytest.raises(ReviewError, match="rejected"):
        store.approve(proposed.id, reviewer="b")
    with pytest.raises(ReviewError, match="rejected"):
        store.reject(proposed.id, reviewer="b", reason="again")
    assert _snapshot(store) == after_reject


def test_retired_codes_are_never_given_out_again(store: Store, plan: PlanFactory) -> None:
    store.publish(plan(3, prefix="A"), author="a")  # v1: A00…A22
    store.publish(plan(2, prefix="B"), author="a")  # v2 retires every A code
    assert store.retired_codes() == {f"A{r}{c}" for r in range(3) for c in range(3)}
    before = _snapshot(store)
    with pytest.raises(RetiredCodeError, match="retired") as refused:
        store.publish(plan(3, prefix="A"), author="a")
    assert "A00" in refused.value.grid_codes
    with pytest.raises(RetiredCodeError):
        store.propose(plan(3, prefix="A"), author="a")
    assert _snapshot(store) == before
    third = store.publish(plan(3, prefix="C"), author="a")  # v3: new codes are fine
    assert third.live
    assert store.retired_codes() >= {"B00", "B11", "A22"}


def test_approval_rechecks_codes_retired_meanwhile(store: Store, plan: PlanFactory) -> None:
    store.publish(plan(3, prefix="A"), author="a")
    waiting = store.propose(plan(3, prefix="A"), author="a")  # keeps the A codes
    store.publish(plan(2, prefix="B"), author="a")  # meanwhile the A codes are retired
    before = _snapshot(store)
    with pytest.raises(RetiredCodeError):
        store.approve(waiting.id, reviewer="b")
    assert _snapshot(store) == before


def test_rollback_republishes_an_earlier_plan(
    store: Store, plan: PlanFactory, units: object
) -> None:
    first = store.publish(plan(3, prefix="A"), author="a", units=units)  # type: ignore[arg-type]
    store.publish(plan(2, prefix="B"), author="a")
    with pytest.raises(ReviewError, match="live version"):
        store.rollback(store.version().id, author="c")
    back = store.rollback(first.id, author="c", note="回退到第一版")
    assert back.live
    assert back.rollback_of == first.id
    assert back.id > first.id
    codes = sorted(store.read_grids()[col.GRID_CODE])
    assert codes == sorted(store.read_grids(first.id)[col.GRID_CODE])
    assert store.grid_at(*POINT_IN_A00) == "A00"
    assert store.audit(back.id)[0].action == "rollback"
    rejected = store.propose(plan(3, prefix="D"), author="a")
    store.reject(rejected.id, reviewer="b", reason="x")
    with pytest.raises(ReviewError, match="never approved"):
        store.rollback(rejected.id, author="c")


def test_late_approval_is_live_from_its_approval(store: Store, plan: PlanFactory) -> None:
    """A draft approved after a later publish goes live then: "as of" follows approval order."""
    store.publish(plan(3, prefix="A"), author="a")
    late = store.propose(plan(3, prefix="A"), author="a")
    published = store.publish(plan(3, prefix="A"), author="a")
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    approved = store.approve(late.id, reviewer="b")
    assert approved.valid_from is not None
    assert published.valid_from is not None
    assert approved.valid_from > published.valid_from
    assert store.version().id == late.id
    assert store.version(as_of=between).id == published.id
    assert store.grid_at(*POINT_IN_A00, as_of=between) == "A00"


def test_audit_log_is_append_only(store: Store, plan: PlanFactory, store_kind: str) -> None:
    store.publish(plan(3), author="a")
    if store_kind == "postgis":
        import psycopg  # noqa: PLC0415 - only the PostGIS case needs it

        with store.connect() as conn, pytest.raises(psycopg.Error, match="append-only"):  # type: ignore[attr-defined]
            conn.execute("DELETE FROM audit_log")
    else:
        import sqlite3  # noqa: PLC0415

        with (
            sqlite3.connect(store.path) as conn,  # type: ignore[attr-defined]
            pytest.raises(sqlite3.DatabaseError, match="append-only"),
        ):
            conn.execute("UPDATE audit_log SET actor = 'x'")
    assert [e.actor for e in store.audit()] == ["a"]
