"""Service configuration: one pydantic-settings object, built only inside ``create_app``.

Every field can be set through an environment variable ``WANGGE_<FIELD>`` (e.g.
``WANGGE_DATABASE_URL``, ``WANGGE_API_KEYS='{"s3cret": ["publisher"]}'``).

There is no household band here: each version is coloured and reported by the band stored
with it (:attr:`gis.store.VersionInfo.band`; the default 300–800 for versions published
without one).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("publisher", "author", "reviewer", "staff", "addresses", "reader")
"""Roles an API key can hold: publish plans (author and reviewer at once), submit drafts
(author), approve or reject them (reviewer), edit staff, import addresses, read (when keyed).

Any key (or a read token) may read what is private by default: room-level addresses."""


class Settings(BaseSettings):
    """Settings of the wangge service (see the field descriptions)."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql:// URL of the PostGIS store; None: the embedded store"
    )
    store_path: Path = Field(
        default=Path("wangge-plans.gpkg"), description="GeoPackage store used when no database_url"
    )
    db_schema: str = Field(default="public", description="PostGIS schema of the store")
    api_keys: dict[str, list[str]] = Field(
        default_factory=dict,
        description="API key → roles (publisher, author, reviewer, staff, addresses, reader)",
    )
    read_requires_key: bool = Field(
        default=False, description="Reads need a key with any role (or a read token)"
    )
    token_ttl_s: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of a read token (POST /auth/token)"
    )
    token_secret: str | None = Field(
        default=None, description="HMAC secret of read tokens (default: derived from the keys)"
    )
    photo_dir: Path | None = Field(
        default=None,
        description="Folder of staff photos; only image files inside it are served (as URLs)",
    )
    batch_process_bytes: int = Field(
        default=2**20,
        ge=0,
        description="Batch bodies above this size are parsed and located in a worker process",
    )
    poll_interval_s: float = Field(
        default=2.0, ge=0, description="How often to poll for a new version"
    )
    max_batch_points: int = Field(default=2_000_000, gt=0, description="Largest batch lookup")
    max_upload_bytes: int = Field(default=256 * 2**20, gt=0, description="Largest request body")
    max_items: int = Field(default=10_000, gt=0, description="Largest OGC items page")
    basemap_path: Path | None = Field(
        default=None, description="GeoPackage with roads/buildings layers drawn under the grids"
    )
    lattice_cells: int = Field(
        default=512, ge=0, description="Lookup lattice cells (0: exact only)"
    )
    tile_max_age_s: int = Field(default=31_536_000, ge=0, description="Cache lifetime of tiles")
    title: str = Field(default="wangge grids", description="Service title")
    cors_read_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins whose pages may read (GET, HEAD and the read-only POSTs "
        '/lookup/batch, /lookup/address/batch, /auth/token); ["*"]: any origin',
    )
    cors_write_origins: list[str] = Field(
        default_factory=list,
        description="Origins whose pages may write (publish, drafts, staff, addresses); "
        "none by default",
    )
    access_log: bool = Field(
        default=True,
        description="One JSON line per request on the api.access logger (stderr unless that "
        "logger is configured)",
    )
    batch_rate_per_s: float = Field(
        default=0.5,
        ge=0,
        description="Batch lookups per second one API key (or client address without a key) "
        "may send on average; 0: no limit",
    )
    batch_burst: int = Field(
        default=10, ge=1, description="Batch lookups one key may send at once before the rate"
    )

    @property
    def store_url(self) -> str:
        """What :func:`gis.store.open_store` opens."""
        return self.database_url or str(self.store_path)
