"""Indexed address search: key columns, the names table and its pg_trgm GIN index.

``addresses`` gains its index keys (``k_norm`` the normalised address, ``k_body`` the exact key
below the administrative prefix, ``k_admin``, ``k_road``/``k_place`` name ids, ``k_door``,
``k_building``, ``k_unit``, ``k_floor``, ``k_room``, ``k_extra``); ``address_names`` holds the
road and compound names with a ``pg_trgm`` GIN index (the extension is created in ``public``,
beside postgis). Rows stored before this revision are keyed here, by the same parser the
service uses (:func:`gis.serving.addresses.table.address_keys`).

Revision ID: 0003
Revises: 0002
Create Date: 2025-07-01
"""

from __future__ import annotations

import pandas as pd
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
ALTER TABLE addresses
    ADD COLUMN k_norm text, ADD COLUMN k_body text, ADD COLUMN k_admin text,
    ADD COLUMN k_road bigint, ADD COLUMN k_door text, ADD COLUMN k_place bigint,
    ADD COLUMN k_building text, ADD COLUMN k_unit text, ADD COLUMN k_floor text,
    ADD COLUMN k_room text, ADD COLUMN k_extra text;
CREATE TABLE address_names (id bigint PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE INDEX address_names_trgm ON address_names USING gin (name gin_trgm_ops);
CREATE INDEX addresses_body ON addresses (k_body);
CREATE INDEX addresses_road ON addresses (k_road, k_door, k_building, k_unit, k_room);
CREATE INDEX addresses_place ON addresses (k_place, k_building, k_unit, k_room);
"""

DOWNGRADE = """
DROP INDEX addresses_place;
DROP INDEX addresses_road;
DROP INDEX addresses_body;
DROP TABLE address_names;
ALTER TABLE addresses
    DROP COLUMN k_norm, DROP COLUMN k_body, DROP COLUMN k_admin, DROP COLUMN k_road,
    DROP COLUMN k_door, DROP COLUMN k_place, DROP COLUMN k_building, DROP COLUMN k_unit,
    DROP COLUMN k_floor, DROP COLUMN k_room, DROP COLUMN k_extra;
"""


def _key_existing_rows() -> None:
    from gis.serving.addresses.table import address_keys  # noqa: PLC0415
    from gis.store.addresses import name_table  # noqa: PLC0415

    bind = op.get_bind()
    rows = bind.exec_driver_sql("SELECT id, address, region FROM addresses").fetchall()
    if not rows:
        return
    table = pd.DataFrame(rows, columns=["id", "address", "region"])
    keys = address_keys(table, workers=1)
    names, fresh = name_table(keys, {})
    for name in fresh:
        bind.exec_driver_sql(
            "INSERT INTO address_names (id, name) VALUES (%(id)s, %(name)s)",
            {"id": names[name], "name": name},
        )
    for row_id, (_, key) in zip(table["id"], keys.iterrows(), strict=True):
        values = {c: key[c] for c in key.index if c.startswith("k_")}
        values.update(k_road=names.get(key["road"], 0), k_place=names.get(key["place"], 0))
        sets = ", ".join(f"{c} = %({c})s" for c in values)
        bind.exec_driver_sql(
            f"UPDATE addresses SET {sets} WHERE id = %(id)s", {**values, "id": int(row_id)}
        )


def upgrade() -> None:
    """Add the keys, the names table and the indexes; key the rows already there."""
    op.execute(UPGRADE)
    _key_existing_rows()


def downgrade() -> None:
    """Drop them (the pg_trgm extension stays)."""
    op.execute(DOWNGRADE)
