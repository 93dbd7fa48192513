"""A plan: grids, the atoms they are made of, the atom graph, the band and the report.

:class:`Plan` is what :func:`gis.partition` returns and what :mod:`gis.edit` and
:func:`gis.adjust` take and return. It keeps everything an edit needs to stay faithful to the
first partition: the atoms (whole blocks, or pieces of blocks split between buildings), their
adjacency with the edge costs the search used (edges that follow no street cost more), the band
and the blocks the plan was drawn from.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import pyproj

from gis import columns as col
from gis.options import DEFAULT_TOLERANCES, Band, Tolerances
from gis.outputs.files import write_json, write_layers
from gis.outputs.plan_file import plan_info_frame
from gis.report import PlanReport

if TYPE_CHECKING:
    import folium

    from gis.blocks.build import BlockSet

#: Columns of the ``grids`` layer written to a plan file (INPUT_FORMAT.md), in this order.
GRID_COLUMNS = (
    col.GRID_ID,
    col.GRID_CODE,
    col.KIND,
    col.HOUSEHOLDS,
    col.PARENT_CODE,
    col.PARENT_NAME,
    col.AREA_M2,
)


@dataclass(frozen=True)
class Plan:
    """A partition of an area into grids.

    Attributes
    ----------
    grids
        One polygon per grid (the ``grids`` layer of ``INPUT_FORMAT.md``): ``grid_id``
        (0..k-1, by unit then north→south, west→east), ``grid_code``, ``kind`` (``ordinary``
        or ``dedicated``), ``households``, ``parent_code``, ``parent_name``, ``area_m2``, and
        ``unit_parent_code``, ``site_kind``, ``site_name``, ``n_blocks``, ``locked``; in the
        metric CRS of the blocks.
    atoms
        The atoms ordinary grids are made of: ``atom_id``, ``block_id``, ``unit_code``,
        ``households``, ``split``, ``grid_id``…; polygons.
    edges
        The atom graph: ``u`` < ``v`` (atom ids of one unit), ``shared_m`` (shared boundary,
        m) and ``penalty`` (extra cost per metre of an edge that follows no street).
    band
        The household band of ordinary grids.
    report
        The plan's :class:`~gis.report.PlanReport`.
    blockset
        The blocks, buildings, streets and households the plan was drawn from (what edits and
        checks measure against); not written to files.
    cells
        Unit cells (``cell_code``, ``grid_code``, ``households``), when asked for.
    code_scheme
        The scheme of ``grid_code`` (see :mod:`gis.rules.codes`).
    tolerances
        The geometric tolerances the plan was drawn with; edits and checks use them too.
    """

    grids: gpd.GeoDataFrame
    atoms: gpd.GeoDataFrame
    edges: pd.DataFrame
    band: Band
    report: PlanReport
    blockset: BlockSet | None = field(default=None, repr=False, compare=False)
    cells: gpd.GeoDataFrame | None = field(default=None, repr=False)
    code_scheme: str | None = None
    tolerances: Tolerances = DEFAULT_TOLERANCES

    @property
    def ok(self) -> bool:
        """True when every check passed and no ordinary grid lies outside the band."""
        return self.report.ok

    @property
    def crs(self) -> pyproj.CRS:
        """The metric CRS the plan is held in."""
        return pyproj.CRS.from_user_input(self.grids.crs)

    @property
    def assignment(self) -> pd.DataFrame:
        """Block → grid: one row per (block, grid) pair with the households it brings."""
        return (
            self.atoms.groupby([col.BLOCK_ID, col.GRID_ID], as_index=False)[col.HOUSEHOLDS]
            .sum()
            .sort_values([col.BLOCK_ID, col.GRID_ID], ignore_index=True)
        )

    def evolve(self, **changes: Any) -> Plan:
        """A copy with some fields replaced (the plan itself never changes)."""
        return replace(self, **changes)

    def layers(self, *, blocks: bool = False) -> dict[str, Any]:
        """The layers of a plan file: ``grids``, ``cells`` (when cut), ``blocks`` and ``plan``."""
        first = [c for c in GRID_COLUMNS if c in self.grids]
        rest = [c for c in self.grids.columns if c not in first and c != "geometry"]
        out: dict[str, Any] = {"grids": self.grids[[*first, *rest, "geometry"]]}
        if self.cells is not None:
            out["cells"] = self.cells
        if blocks and self.blockset is not None:
            out["blocks"] = self.blockset.blocks
        own = self.unit_bands()
        out["plan"] = plan_info_frame(
            self.band,
            code_scheme=self.code_scheme,
            unit_bands=json.dumps(own, ensure_ascii=False) if own else None,
        )
        return out

    def unit_bands(self) -> dict[str, list[int]]:
        """Units partitioned with a band of their own (rules per unit): unit code →
        ``[min, max, target]``; publishing keeps them with the version, so the service judges
        those units' grids by their own band."""
        rules = self.report.sections.get("rules") or {}
        found = {}
        for unit, said in rules.items():
            used = said.get("band_used") or {}
            keys = ("min_households", "max_households", "target")
            if not all(isinstance(used.get(k), int) for k in keys):
                continue
            numbers = [int(used[k]) for k in keys]
            if numbers != list(self.band.to_dict().values()):
                found[str(unit)] = numbers
        return found

    def to_file(
        self,
        path: str | Path,
        *,
        crs: str | int | pyproj.CRS = 4326,
        report: str | Path | None = None,
        blocks: bool = False,
    ) -> Path:
        """Write the plan file (GeoPackage: grids, cells, plan table) and its JSON report.

        Parameters
        ----------
        path
            The output file; written to a temporary name and renamed when complete.
        crs
            CRS of the written geometries (default EPSG:4326).
        report
            Where the JSON report goes (default: beside ``path`` with suffix ``.json``).
        blocks
            Also write the street blocks.
        """
        out = write_layers(path, self.layers(blocks=blocks), crs=crs)
        data = self.report.to_dict() | {"output_crs": pyproj.CRS.from_user_input(crs).to_string()}
        write_json(report or Path(path).with_suffix(".json"), data)
        return out

    def explore(self, **kwargs: Any) -> folium.Map:
        """An interactive map: grids coloured by load against the band, streets, buildings."""
        from gis.outputs.maps import plan_map  # noqa: PLC0415  (folium only when drawn)

        return plan_map(self, **kwargs)

    def _repr_html_(self) -> str:
        summary = self.report.summary()
        metrics = self.report.metrics
        rows = [
            ("网格 grids", f"{summary['n_grids']} ({summary['n_dedicated']} 专属 dedicated)"),
            ("户数 households", f"{summary['households']:,}"),
            ("户数区间 band", f"{self.band} (目标 target {self.band.target})"),
            ("在区间内 in band", f"{summary['share_in_band']:.1%}"),
            ("例外 exceptions", str(len(self.report.exceptions))),
            ("Polsby–Popper", _fmt(metrics.get("polsby_popper_mean"))),
            ("沿街 on streets", _fmt(metrics.get("street_share"), pct=True)),
            ("缝隙/重叠 gap/overlap m²", f"{metrics['gap_m2']:.2f} / {metrics['overlap_m2']:.2f}"),
            ("编码 codes", str(self.code_scheme)),
            ("检查 checks", "通过 ok" if self.ok else "未通过 violations"),
        ]
        table = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        try:
            fmap = self.explore()._repr_html_()
        except Exception:
            fmap = ""
        return f"<table>{table}</table>{fmap}"


def _fmt(value: Any, *, pct: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if pct else f"{value:.3f}"
