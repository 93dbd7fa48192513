"""Staff serve grids, unit cells or units, with a duty, and keep their history.

``staff`` gains ``cell_code`` and ``unit_code`` beside ``grid_code`` (now nullable): a row
serves exactly one of them (CHECK). ``duty`` says how a grid worker's post is staffed
(``full_time`` 专职 / ``part_time`` 兼职; NULL: not said, and always for other roles).
``valid_during`` (revision 0001) already keeps the history: a roster change closes rows
instead of deleting them; partial indexes find each post's open rows. No column for an ID
number or a hash of one: private fields are never stored (see :mod:`gis.rules.staff`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE staff
    ALTER COLUMN grid_code DROP NOT NULL,
    ADD COLUMN cell_code text,
    ADD COLUMN unit_code text,
    ADD COLUMN duty text CHECK (duty IN ('full_time', 'part_time')),
    ADD CONSTRAINT staff_serves_one CHECK (num_nonnulls(grid_code, cell_code, unit_code) = 1);
CREATE INDEX staff_cell_code ON staff (cell_code);
CREATE INDEX staff_unit_code ON staff (unit_code);
CREATE INDEX staff_open ON staff (grid_code, cell_code, unit_code) WHERE upper_inf(valid_during);
"""

DOWNGRADE = """
DROP INDEX staff_open;
DROP INDEX staff_unit_code;
DROP INDEX staff_cell_code;
DELETE FROM staff WHERE grid_code IS NULL;
ALTER TABLE staff
    DROP CONSTRAINT staff_serves_one,
    DROP COLUMN duty,
    DROP COLUMN unit_code,
    DROP COLUMN cell_code,
    ALTER COLUMN grid_code SET NOT NULL;
"""


def upgrade() -> None:
    """Add the cell and unit posts, the duty, and the indexes of open rows."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them again; rows serving cells or units are lost (they cannot be kept)."""
    op.execute(DOWNGRADE)
