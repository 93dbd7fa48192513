"""Plan versions go through review: draft → submitted → approved (live) or rejected.

``plan_versions`` gains ``state`` (every version stored before this revision was published,
so ``approved``), who submitted, reviewed and when, the reviewer's note (a rejection's
reason) and ``rollback_of`` (the earlier version a rollback re-publishes). A version that is
not approved was never in force: its ``valid_during`` is the empty range, and so are its
grids' and cells' (the one-live exclusion constraints ignore empty ranges). A CHECK ties
the two together.

``pending_units`` holds the administrative units a draft brings until it is approved (then
they replace the units in force, as a publish does). ``audit_log`` records who did what to
which version, when; a trigger refuses every UPDATE, DELETE and TRUNCATE, so it only grows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE plan_versions
    ADD COLUMN state text NOT NULL DEFAULT 'approved'
        CHECK (state IN ('draft', 'submitted', 'approved', 'rejected')),
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN reviewer text,
    ADD COLUMN reviewed_at timestamptz,
    ADD COLUMN review_note text NOT NULL DEFAULT '',
    ADD COLUMN rollback_of bigint REFERENCES plan_versions (id),
    ADD CONSTRAINT plan_versions_state_valid
        CHECK ((state = 'approved') = NOT isempty(valid_during));
UPDATE plan_versions SET submitted_at = created_at, reviewer = author, reviewed_at = created_at;

CREATE TABLE pending_units (
    version_id bigint NOT NULL REFERENCES plan_versions (id),
    unit_code text NOT NULL,
    unit_name text NOT NULL DEFAULT '',
    level text,
    parent_code text,
    geom geometry(Geometry, 4326) NOT NULL,
    PRIMARY KEY (version_id, unit_code)
);

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    action text NOT NULL,
    version_id bigint REFERENCES plan_versions (id),
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_version ON audit_log (version_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

DOWNGRADE = """
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE pending_units;
ALTER TABLE plan_versions
    DROP CONSTRAINT plan_versions_state_valid,
    DROP COLUMN rollback_of,
    DROP COLUMN review_note,
    DROP COLUMN reviewed_at,
    DROP COLUMN reviewer,
    DROP COLUMN submitted_at,
    DROP COLUMN state;
"""


def upgrade() -> None:
    """Add the review columns, the pending units and the append-only audit log."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them again (every remaining version must be approved for this to make sense)."""
    op.execute(DOWNGRADE)
