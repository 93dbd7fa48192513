"""``wangge serve``: the web service (``wangge addresses`` is in :mod:`gis.commands.addresses`).

The store is ``--store`` (or ``WANGGE_DATABASE_URL``): a ``postgresql://`` URL, or a
``.gpkg`` file, ``wangge-plans.gpkg`` by default. Every other service setting comes from
``WANGGE_*`` environment variables (see :class:`api.settings.Settings`).

``serve`` opens the store before it starts the server: a missing, unreadable or corrupt
GeoPackage, or a database that cannot be reached, is one line and exit code 2, never a server
that starts and answers "no version".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis.commands import common
from gis.errors import OptionError

DEFAULT_STORE = "wangge-plans.gpkg"
StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="WANGGE_DATABASE_URL",
        help="postgresql:// URL or .gpkg file holding the plan versions",
    ),
]
SchemaOpt = Annotated[str, typer.Option("--schema", help="PostGIS schema of the store")]


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command("serve")
    @common.handle_errors
    def serve(
        store: StoreOpt = DEFAULT_STORE,
        schema: SchemaOpt = "public",
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
        basemap: Annotated[
            Path | None, typer.Option("--basemap", help="GeoPackage with roads/buildings")
        ] = None,
        workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
        verbose: common.VerboseOpt = False,
    ) -> None:
        """Serve lookups, OGC API – Features, vector tiles and the web map."""
        import os  # noqa: PLC0415

        import uvicorn  # noqa: PLC0415

        from gis.store import is_database_url  # noqa: PLC0415

        common.setup_logging(verbose)
        if basemap is not None and not basemap.is_file():
            msg = f"--basemap {basemap} is not a file; give a GeoPackage with roads/buildings"
            raise OptionError(msg)
        _check_store(store, schema)

        if is_database_url(store):
            os.environ["WANGGE_DATABASE_URL"] = store
        else:
            os.environ.pop("WANGGE_DATABASE_URL", None)
            os.environ["WANGGE_STORE_PATH"] = store
        os.environ["WANGGE_DB_SCHEMA"] = schema
        if basemap is not None:
            os.environ["WANGGE_BASEMAP_PATH"] = str(basemap)
        common.console.print(f"serving {store} on http://{host}:{port}/ (map: /map, docs: /docs)")
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )


def _check_store(store: str, schema: str) -> None:
    """Open the store the server will serve and read its versions, or fail with one line.

    Raises
    ------
    StoreError
        A missing or corrupt GeoPackage, or an unreachable database.
    """
    from gis.store import open_store  # noqa: PLC0415

    with open_store(store, schema=schema, create=False) as opened:
        versions = opened.versions()
    if not versions:  # a PostGIS store before its first publish: serve, and say so
        common.err_console.print(
            f"[yellow]{store} holds no plan version yet: lookups answer 404 until one is "
            "published (wangge publish …)[/yellow]",
            soft_wrap=True,
        )
