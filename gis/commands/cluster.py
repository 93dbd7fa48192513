"""The options every command that can run on a Dask cluster shares: ``--workers``, ``--scheduler``.

See :func:`gis.parallel.connect` for what each means and what is checked before any work is
sent.
"""

from __future__ import annotations

from typing import Annotated

import typer

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Run on a local Dask cluster of N worker processes (one thread each)",
        show_default=False,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="WANGGE_DASK_SCHEDULER",
        help="Run on the Dask cluster at tcp://HOST:PORT (its workers must run this wangge)",
        show_default=False,
    ),
]
