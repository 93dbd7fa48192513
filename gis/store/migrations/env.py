"""Alembic environment for the wangge store, driven in code by :func:`gis.store.migrate`.

The caller passes an open SQLAlchemy connection (``search_path`` already set to the store's
schema) in ``config.attributes["connection"]`` and the schema name in
``config.attributes["schema"]``; the version table lives in that schema.
"""

from __future__ import annotations

from alembic import context

from gis.store.models import Base

config = context.config
connection = config.attributes.get("connection")
schema = config.attributes.get("schema", "public")

if connection is None:  # pragma: no cover - offline SQL generation
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()
