"""Each plan version keeps the household band it was drawn for.

``plan_versions`` gains ``band_min``, ``band_max`` and ``band_target`` (integers). They are
NULL for every version published before this revision, and for a version published without a
band; the store reads those as the default band (300–800, target 500). A CHECK keeps the three
all NULL or a valid band (``0 ≤ min ≤ target ≤ max``, ``max > 0``).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE plan_versions
    ADD COLUMN band_min integer,
    ADD COLUMN band_max integer,
    ADD COLUMN band_target integer,
    ADD CONSTRAINT plan_versions_band CHECK (
        num_nulls(band_min, band_max, band_target) IN (0, 3)
        AND (band_min IS NULL
             OR (band_min >= 0 AND band_max > 0
                 AND band_min <= band_target AND band_target <= band_max))
    );
"""

DOWNGRADE = """
ALTER TABLE plan_versions
    DROP CONSTRAINT plan_versions_band,
    DROP COLUMN band_target,
    DROP COLUMN band_max,
    DROP COLUMN band_min;
"""


def upgrade() -> None:
    """Add the band columns (NULL for the versions already published)."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop the band columns."""
    op.execute(DOWNGRADE)
