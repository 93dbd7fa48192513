"""Grids say what they are: the site a dedicated grid serves, and estimated households.

``grids`` gains ``site_kind`` and ``site_name`` (the school, hospital, market or park a
dedicated grid (专属网格) serves; NULL for ordinary grids and for grids stored before this
revision) and ``households_estimated`` (whether the grid's households were estimated from
buildings rather than counted; false for grids stored before).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE grids
    ADD COLUMN site_kind text,
    ADD COLUMN site_name text,
    ADD COLUMN households_estimated boolean NOT NULL DEFAULT false;
"""

DOWNGRADE = """
ALTER TABLE grids
    DROP COLUMN households_estimated,
    DROP COLUMN site_name,
    DROP COLUMN site_kind;
"""


def upgrade() -> None:
    """Add the site and estimate columns."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
