"""Initial schema: units, plan versions, grids, cells, staff, addresses.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

POLYGONAL = "ST_GeometryType(geom) IN ('ST_Polygon', 'ST_MultiPolygon')"

UPGRADE = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE units (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_code text NOT NULL,
    unit_name text NOT NULL DEFAULT '',
    level text,
    parent_code text,
    geom geometry(Geometry, 4326) NOT NULL CHECK ({POLYGONAL}),
    valid_during tstzrange NOT NULL,
    CONSTRAINT units_one_live_code EXCLUDE USING gist (unit_code WITH =, valid_during WITH &&)
);
CREATE INDEX units_geom_gist ON units USING gist (geom);

CREATE TABLE plan_versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL,
    author text NOT NULL,
    note text NOT NULL DEFAULT '',
    parameters jsonb NOT NULL DEFAULT '{{}}',
    report jsonb NOT NULL DEFAULT '{{}}',
    valid_during tstzrange NOT NULL,
    CONSTRAINT plan_versions_one_live EXCLUDE USING gist (valid_during WITH &&)
);

CREATE TABLE grids (
    version_id bigint NOT NULL REFERENCES plan_versions (id),
    grid_code text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ordinary', 'dedicated')),
    households integer NOT NULL CHECK (households >= 0),
    parent_code text NOT NULL,
    parent_name text NOT NULL DEFAULT '',
    area_m2 double precision NOT NULL,
    geom geometry(Geometry, 4326) NOT NULL CHECK ({POLYGONAL}),
    valid_during tstzrange NOT NULL,
    PRIMARY KEY (version_id, grid_code),
    CONSTRAINT grids_one_live_code EXCLUDE USING gist (grid_code WITH =, valid_during WITH &&)
);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);
CREATE INDEX grids_live ON grids (grid_code) WHERE upper_inf(valid_during);

CREATE TABLE cells (
    version_id bigint NOT NULL,
    cell_code text NOT NULL,
    grid_code text NOT NULL,
    households integer NOT NULL CHECK (households >= 0),
    geom geometry(Geometry, 4326) NOT NULL CHECK ({POLYGONAL}),
    valid_during tstzrange NOT NULL,
    PRIMARY KEY (version_id, cell_code),
    FOREIGN KEY (version_id, grid_code) REFERENCES grids (version_id, grid_code)
);
CREATE INDEX cells_geom_gist ON cells USING gist (geom);

CREATE TABLE staff (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grid_code text NOT NULL,
    name text NOT NULL,
    role text NOT NULL DEFAULT 'grid_worker',
    phone text,
    photo_path text,
    valid_during tstzrange NOT NULL DEFAULT tstzrange(now(), NULL)
);
CREATE INDEX staff_grid_code ON staff (grid_code);

CREATE TABLE addresses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address text NOT NULL,
    region text,
    street text,
    compound text,
    door_number text,
    building text,
    unit text,
    room text,
    geom geometry(Point, 4326),
    building_id text
);
CREATE INDEX addresses_geom_gist ON addresses USING gist (geom);
CREATE INDEX addresses_address ON addresses (address);
"""

DOWNGRADE = """
DROP TABLE addresses;
DROP TABLE staff;
DROP TABLE cells;
DROP TABLE grids;
DROP TABLE plan_versions;
DROP TABLE units;
"""


def upgrade() -> None:
    """Create the tables, constraints and GiST indexes."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop the tables (the extensions stay)."""
    op.execute(DOWNGRADE)
