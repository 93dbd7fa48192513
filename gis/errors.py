"""Every domain error wangge raises, in one place.

Each message says what is wrong, which value was seen and how to fix it. The CLI turns any
:class:`WanggeError` into a one-line message and a non-zero exit code; the API maps them to
4xx responses.
"""

from __future__ import annotations

from typing import Final


class WanggeError(ValueError):
    """Base class of every error caused by the user's input or options."""

    exit_code = 2


class InputFileError(WanggeError):
    """A file cannot be read as vector data, or a required layer is missing."""


class GeometryError(WanggeError):
    """A geometry is invalid, empty, of the wrong type, or outside the area."""


class CRSError(WanggeError):
    """A coordinate reference system is missing, wrong, or contradicted by the coordinates."""


class HouseholdError(WanggeError):
    """A household count column is missing, negative or not numeric."""


class OptionError(WanggeError):
    """A command-line or function option has an impossible value."""


class InputTypeError(TypeError):
    """An argument has the wrong Python type (a programming error, not a data error)."""


class ValidationErrors(WanggeError):  # noqa: N818 - it holds several errors
    """Several input problems found at once, reported together (osmnx-style).

    Parameters
    ----------
    problems
        One message per problem found.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class InfeasibleBandError(OptionError):
    """The household band is so narrow that no unit's households can be divided into it."""


class PlanRejectedError(GeometryError):
    """A plan was refused at publish time; nothing was written.

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    grid_codes
        The offending grid codes, sorted.
    """

    def __init__(self, message: str, grid_codes: list[str]) -> None:
        self.grid_codes = sorted(set(grid_codes))
        super().__init__(message)


class PlanOverlapError(PlanRejectedError):
    """Two or more grids of a plan share interior area."""


class PlanGapError(PlanRejectedError):
    """The grids of a plan leave part of an administrative unit uncovered."""


class DuplicateGridCodeError(PlanRejectedError):
    """A grid code appears more than once in one plan."""


class StoreError(WanggeError):
    """A plan store cannot be opened or used (bad URL or path, missing schema)."""


class VersionNotFoundError(StoreError):
    """No plan version has the requested id, or none was live at the requested time."""


class ReviewError(WanggeError):
    """A plan version cannot take this step of review (approve a rejected version, submit
    one that is not a draft, reject without a reason)."""


class SelfReviewError(ReviewError):
    """The author of a version tried to approve or reject it: author and reviewer differ."""


class RetiredCodeError(PlanRejectedError):
    """A plan gives out again a grid code that an earlier version retired."""


class CodeError(WanggeError):
    """A unit code does not fit the code scheme, or codes collide."""


class RosterError(WanggeError):
    """A staff roster is malformed or names grids that do not exist."""


class RosterProblems(RosterError):  # noqa: N818 - it holds several errors
    """Every bad row of a roster, one message each (the CLI prints one line per problem).

    Parameters
    ----------
    problems
        One message per problem found, each naming its row.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"{count} in the roster: {shown}{more}")


class PointOutsideGridsError(WanggeError):
    """A point (or address) lies outside every grid of the plan version asked for."""


class BatchTooLargeError(WanggeError):
    """A batch lookup holds more points than the configured limit."""


class AddressError(WanggeError):
    """An address table cannot be read (missing columns, bad coordinates, empty query)."""


class NoticeError(WanggeError):
    """A public-notice map cannot be drawn (unknown grid, no CJK font)."""


class UnitOverlapError(GeometryError):
    """Two administrative units of the boundary share interior area."""


class SiteError(GeometryError):
    """A site for a dedicated grid is unusable (outside every unit, wrong geometry)."""


class VillageError(GeometryError):
    """Natural villages cannot be read (no name column, wrong geometry)."""


class EditError(WanggeError):
    """A plan edit is impossible (unknown grid or atom, nothing to move, bad split line)."""


class GridLockedError(EditError):
    """An edit would change a locked grid; unlock it first."""


class NotAdjacentError(EditError):
    """What is moved or merged does not border the grid it should join."""


class DisconnectedGridError(EditError):
    """An edit would leave a grid in two or more pieces."""


class ClusterError(WanggeError):
    """A Dask cluster cannot be used: the scheduler does not answer, has no workers, or its
    workers cannot run wangge or see the files of the job."""


class UnitsFailedError(WanggeError):
    """Some administrative units could not be planned; the others were, but nothing is kept.

    Parameters
    ----------
    failures
        Unit code → why it failed (one line each).
    n_units
        Units in the area.
    """

    def __init__(self, failures: dict[str, str], n_units: int) -> None:
        self.failures = dict(failures)
        self.n_units = n_units
        shown = "; ".join(f"{unit}: {why}" for unit, why in list(self.failures.items())[:5])
        more = f"; and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
        super().__init__(
            f"{len(self.failures)} of {n_units} units could not be planned, so no plan was "
            f"made (the other {n_units - len(self.failures)} finished): {shown}{more}"
        )


class AssignError(WanggeError):
    """Some parts of a points table could not be assigned (each named with its reason);
    nothing was written."""


class PointsError(InputFileError):
    """A points table cannot be read: no coordinate columns, or values that are no position."""


class MissingExtraError(WanggeError):
    """A command needs an optional part of wangge (a pip extra) that is not installed.

    Parameters
    ----------
    what
        What needs it, e.g. ``wangge serve`` or ``a PostGIS store``.
    module
        The missing top-level module, e.g. ``uvicorn``.
    extra
        The extra that brings it, e.g. ``serve``.
    """

    #: Which extra of ``pyproject.toml`` brings each optional top-level module.
    EXTRAS: Final = {
        **dict.fromkeys(("psycopg", "sqlalchemy", "geoalchemy2", "alembic"), "db"),
        **dict.fromkeys(
            ("fastapi", "starlette", "pydantic", "pydantic_settings", "uvicorn", "orjson",
             "mapbox_vector_tile", "rapidfuzz", "multipart", "python_multipart"),
            "serve",
        ),
    }  # fmt: skip

    def __init__(self, what: str, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{what} needs {module}, which is not installed: pip install 'wangge[{extra}]'"
        )

    @classmethod
    def from_import(cls, exc: ModuleNotFoundError, what: str) -> MissingExtraError | None:
        """The error for a failed import of an optional module, or None for any other module."""
        module = (exc.name or "").partition(".")[0]
        extra = cls.EXTRAS.get(module)
        return None if extra is None else cls(what, module, extra)


class OutputError(WanggeError):
    """An output cannot be written: no space left, permission denied, a folder that cannot be
    made; nothing of it is left behind.

    Parameters
    ----------
    message
        The whole line: which output, why, what to do.
    reason
        Why alone, in plain words (``no space left on the device``); the message when None.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        self.reason = reason if reason is not None else message
        super().__init__(message)


class StoreUnavailableError(StoreError):
    """The plan database cannot be reached, or refuses the connection or the operation."""
