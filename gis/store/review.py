"""The review rules of a plan version, shared by both stores: which step may follow which,
who may take it, and which grid codes a new plan may not give out again.

A street office proposes, the district approves (「提出调整意见，上报审定后，及时作出调整」):

======================  ============================  ===============================
step                    from                          rule
======================  ============================  ===============================
``draft``               (a new plan)                  checked like a publish
``submit``              ``draft``                     by anyone who may author
``approve``             ``submitted``                 reviewer ≠ author; goes live now
``reject``              ``draft`` or ``submitted``    reviewer ≠ author; a reason
``rollback``            ``approved`` (not live)       re-published as a new version
``publish``             (a new plan)                  author approves their own plan
======================  ============================  ===============================

Every step is one entry of the store's append-only audit log (:class:`AuditEntry`).

Grid codes are identities that other systems keep (case records, addresses): a code that an
approved version held and the live version no longer holds is *retired* and never given out
again, by any later version (:func:`check_not_retired`). A rollback re-publishes an earlier
plan as it was, so it brings back its own grids, codes included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from gis.errors import RetiredCodeError, ReviewError, SelfReviewError, ValidationErrors
from gis.store.plan import VersionInfo

ACTIONS: Final = ("draft", "submit", "approve", "reject", "rollback", "publish")
"""The steps the audit log records."""

ACTION_LABELS: Final = {
    "draft": "存为草稿",
    "submit": "提交审核",
    "approve": "审核通过",
    "reject": "退回",
    "rollback": "回退",
    "publish": "发布",
}
"""What users read for each step (Simplified Chinese)."""

MAX_NAME_CHARS: Final = 200
DOING: Final = {"author": "publishes or proposes the plan", "reviewer": "reviews it"}
MAX_REASON_CHARS: Final = 2000


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One step taken on a plan version: who, when, what, which version.

    Attributes
    ----------
    id
        Position in the log (increasing).
    at
        When (UTC).
    actor
        Who took the step.
    action
        One of :data:`ACTIONS`.
    version_id
        The version it was taken on.
    detail
        What else was said (note, reason, the version rolled back to, grid count).
    """

    id: int
    at: datetime
    actor: str
    action: str
    version_id: int | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the time as ISO 8601), with the step's Chinese label."""
        out = dataclasses.asdict(self)
        out["at"] = self.at.isoformat()
        out["label"] = ACTION_LABELS.get(self.action, self.action)
        return out


def check_person(name: object, what: str, flag: str) -> str:
    """A person's name (author or reviewer), stripped; refused when empty, not text, several
    lines or too long.

    Raises
    ------
    ValidationErrors
        Naming what was given and how to give it.
    """
    if not isinstance(name, str) or not name.strip():
        doing = DOING.get(what, "acts")
        msg = f"{what} must name who {doing} (e.g. {flag} 'Wang Fang'), got {name!r}"
        raise ValidationErrors([msg])
    text = name.strip()
    if len(text) > MAX_NAME_CHARS or not text.isprintable():
        msg = f"{what} must be one printable line of at most {MAX_NAME_CHARS} characters"
        raise ValidationErrors([msg])
    return text


def check_submit(info: VersionInfo) -> None:
    """Refuse to submit a version that is not a draft.

    Raises
    ------
    ReviewError
    """
    if info.state != "draft":
        msg = f"version {info.id} is {info.state}, not a draft: only a draft can be submitted"
        raise ReviewError(msg)


def check_review(info: VersionInfo, reviewer: str, action: str) -> None:
    """Refuse an approval or rejection the rules do not allow.

    Parameters
    ----------
    info
        The version reviewed.
    reviewer
        Who reviews it (already checked by :func:`check_person`).
    action
        ``approve`` or ``reject``.

    Raises
    ------
    SelfReviewError
        The reviewer is the version's author.
    ReviewError
        The version is not awaiting review (approved, rejected, or, for an approval, still
        a draft).
    """
    allowed = ("submitted",) if action == "approve" else ("draft", "submitted")
    if info.state not in allowed:
        hint = {
            "approved": "it is already approved",
            "rejected": "it was rejected; submit a new plan instead",
            "draft": "it is still a draft; submit it first (wangge submit --version)",
        }[info.state]
        raise ReviewError(f"cannot {action} version {info.id}: {hint}")
    if reviewer.casefold() == info.author.casefold():
        msg = (
            f"cannot {action} version {info.id}: {reviewer!r} is its author, and author and "
            "reviewer must differ (a single user holding both roles uses wangge publish)"
        )
        raise SelfReviewError(msg)


def check_reason(reason: object) -> str:
    """A rejection's reason, stripped; refused when empty or too long.

    Raises
    ------
    ValidationErrors
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationErrors(["a rejection needs a reason (--reason '…'), got none"])
    text = reason.strip()
    if len(text) > MAX_REASON_CHARS:
        raise ValidationErrors([f"the reason is longer than {MAX_REASON_CHARS} characters"])
    return text


def check_rollback(info: VersionInfo) -> None:
    """Refuse to roll back to a version that was never approved, or is live already.

    Raises
    ------
    ReviewError
    """
    if not info.approved:
        msg = f"cannot roll back to version {info.id}: it is {info.state}, never approved"
        raise ReviewError(msg)
    if info.live:
        raise ReviewError(f"cannot roll back to version {info.id}: it is the live version")


def retired(codes_by_version: dict[int, set[str]], live_id: int | None) -> set[str]:
    """Codes that approved versions held and the live version does not.

    Parameters
    ----------
    codes_by_version
        The grid codes of every approved version.
    live_id
        The live version (None: none is live, nothing is retired).
    """
    if live_id is None:
        return set()
    held = set().union(*codes_by_version.values()) if codes_by_version else set()
    return held - codes_by_version.get(live_id, set())


def check_not_retired(codes: Iterable[str], retired_codes: set[str]) -> None:
    """Refuse a plan that gives out a retired grid code again.

    Raises
    ------
    RetiredCodeError
        Naming the codes (``exc.grid_codes``).
    """
    again = sorted(set(map(str, codes)) & retired_codes)
    if again:
        shown = ", ".join(again[:20]) + (f" and {len(again) - 20} more" if len(again) > 20 else "")
        msg = (
            f"plan refused: {len(again)} grid code(s) were retired by an earlier version and "
            f"are never given out again: {shown}; give those grids new codes (wangge adjust "
            "keeps the store's retired codes out)"
        )
        raise RetiredCodeError(msg, again)
