"""Bring a PostGIS schema to the latest store revision with Alembic, configured in code.

No ``alembic.ini`` is needed: the script location ships inside the package
(``gis/store/migrations``). Concurrent upgrades of the same schema are serialised by a
transaction-level advisory lock, and each upgrade runs in one transaction.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from gis.store.postgis import CONNECT_TIMEOUT_S, check_schema, database_error, psycopg_url

logger = logging.getLogger(__name__)

SCRIPT_LOCATION: Final = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def upgrade(url: str, *, schema: str = "public", revision: str = "head") -> None:
    """Create ``schema`` if needed and migrate it to ``revision``.

    Parameters
    ----------
    url
        PostgreSQL URL (``postgresql://…``).
    schema
        Schema to hold the store's tables; extensions are looked up in ``public`` too.
    revision
        Target Alembic revision.

    Raises
    ------
    StoreUnavailableError
        The database is unreachable, or refuses the login or the schema change.
    """
    schema = check_schema(schema)
    sa_url = psycopg_url(url).replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(
        sa_url,
        poolclass=NullPool,
        connect_args={
            "options": f"-c search_path={schema},public",
            "connect_timeout": CONNECT_TIMEOUT_S,
        },
    )
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('wangge.migrate'))"))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            config = alembic_config()
            config.attributes["connection"] = conn
            config.attributes["schema"] = schema
            command.upgrade(config, revision)
    except DBAPIError as exc:
        raise database_error(exc, url, f"open the plan store (schema {schema})") from exc
    finally:
        engine.dispose()
    logger.debug("schema %s at revision %s", schema, revision)
