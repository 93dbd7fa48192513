"""The ``wangge`` command: one sub-command per domain step."""

from __future__ import annotations

import typer

from gis.commands import addresses, assign, blocks, notice, plan, review, serve, staff, store

app = typer.Typer(
    name="wangge",
    help="Split communities and villages into management grids (网格) and serve them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """wangge: management grids for communities and villages."""


blocks.register(app)
plan.register(app)
assign.register(app)
store.register(app)
review.register(app)
notice.register(app)
serve.register(app)
addresses.register(app)
staff.register(app)


def main() -> None:  # pragma: no cover - console entry point
    """Run the command line."""
    app()
