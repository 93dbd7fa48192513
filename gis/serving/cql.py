"""CQL2 text filters over a served layer, and the layer's queryables (OGC API Features Part 3).

The text is parsed by pygeofilter (a maintained CQL2 parser); its syntax tree is turned here
into a boolean mask over the layer's frame, checked against the layer's queryables first: an
unknown property, a number compared with a text or an unsupported operator is refused with a
message naming it (:class:`gis.errors.OptionError`), never silently matched.

What is understood (the conformance classes the service claims):

* basic CQL2: ``AND``, ``OR``, ``NOT``, ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``,
  ``IS [NOT] NULL``, on a queryable and a literal;
* advanced comparison operators: ``[NOT] LIKE`` (``%`` any text, ``_`` one character, ``\\``
  escapes), ``[NOT] BETWEEN``, ``[NOT] IN (…)``;
* basic spatial functions: ``S_INTERSECTS(geometry, <WKT or BBOX(…)>)`` with the literal in
  lon/lat (CRS84) unless the caller says otherwise.

Examples
--------
>>> import geopandas as gpd, shapely
>>> frame = gpd.GeoDataFrame({"households": [100, 500], "kind": ["ordinary", "dedicated"]},
...                          geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
>>> mask = filter_mask(frame, "households > 300 AND kind = 'dedicated'", GRID_QUERYABLES)
>>> mask.tolist()
[False, True]
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_text import parse

from gis.errors import OptionError

GEOMETRY: Final = "geometry"


@dataclass(frozen=True)
class Queryable:
    """One property a filter may name.

    Attributes
    ----------
    type
        JSON Schema type: ``string``, ``integer`` or ``number``.
    title
        What users read (Simplified Chinese).
    enum
        The values it can take, when they are few and known.
    """

    type: str
    title: str
    enum: tuple[str, ...] | None = None


GRID_QUERYABLES: Final = {
    "grid_code": Queryable("string", "网格编码"),
    "kind": Queryable(
        "string", "网格类型（ordinary 普通，dedicated 专属）", ("ordinary", "dedicated")
    ),
    "households": Queryable("integer", "户数"),
    "parent_code": Queryable("string", "所属单元编码"),
    "parent_name": Queryable("string", "所属单元名称"),
    "load": Queryable(
        "string", "户数负荷（按该版本户数区间）", ("under", "within", "over", "dedicated")
    ),
}
CELL_QUERYABLES: Final = {
    "cell_code": Queryable("string", "单元格编码"),
    "grid_code": Queryable("string", "所属网格编码"),
    "households": Queryable("integer", "户数"),
}
UNIT_QUERYABLES: Final = {
    "unit_code": Queryable("string", "单元编码"),
    "unit_name": Queryable("string", "单元名称"),
    "level": Queryable("string", "层级"),
    "parent_code": Queryable("string", "上级单元编码"),
}

COMPARE: Final[dict[type, Callable[[Any, Any], Any]]] = {
    ast.Equal: operator.eq, ast.NotEqual: operator.ne, ast.LessThan: operator.lt,
    ast.LessEqual: operator.le, ast.GreaterThan: operator.gt, ast.GreaterEqual: operator.ge,
}  # fmt: skip


def queryables_schema(
    queryables: Mapping[str, Queryable], *, schema_id: str, title: str
) -> dict[str, Any]:
    """The queryables as a JSON Schema (draft 2020-12), ``geometry`` included."""
    props: dict[str, Any] = {
        name: {"type": q.type, "title": q.title, **({"enum": list(q.enum)} if q.enum else {})}
        for name, q in queryables.items()
    }
    props[GEOMETRY] = {"title": "几何（多边形）", "format": "geometry-any"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "type": "object",
        "title": title,
        "properties": props,
        "additionalProperties": False,
    }


def parse_filter(text: str) -> ast.Node:
    """The syntax tree of a CQL2 text filter.

    Raises
    ------
    OptionError
        The text is not CQL2 (the parser's message, shortened).
    """
    try:
        node = parse(text)
    except Exception as exc:  # lark's UnexpectedInput and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"filter {text[:80]!r} is not CQL2 text: {first}") from exc
    if not isinstance(node, ast.Node):
        raise OptionError(f"filter {text[:80]!r} is a value, not a condition")
    return node


def filter_mask(
    frame: gpd.GeoDataFrame,
    text: str,
    queryables: Mapping[str, Queryable],
    *,
    to_frame_crs: Callable[[shapely.Geometry], shapely.Geometry] | None = None,
) -> pd.Series:
    """Which rows of ``frame`` the CQL2 text filter selects.

    Parameters
    ----------
    frame
        The layer (EPSG:4326) with a column for each queryable it is asked about.
    text
        The ``filter`` parameter (CQL2 text).
    queryables
        What the filter may name (:data:`GRID_QUERYABLES`, …).
    to_frame_crs
        Brings a spatial literal into lon/lat (default: it already is, CRS84).

    Returns
    -------
    pandas.Series
        Booleans aligned with ``frame``.

    Raises
    ------
    OptionError
        Not CQL2, an unknown queryable, a type mismatch or an unsupported operator.
    """
    node = parse_filter(text)
    try:
        mask = _Translator(frame, queryables, to_frame_crs).condition(node)
    except RecursionError as exc:
        msg = f"filter {text[:80]!r}… nests too deeply (a few hundred conditions at most)"
        raise OptionError(msg) from exc
    return pd.Series(np.asarray(mask, dtype=bool), index=frame.index)


@dataclass
class _Translator:
    frame: gpd.GeoDataFrame
    queryables: Mapping[str, Queryable]
    to_frame_crs: Callable[[shapely.Geometry], shapely.Geometry] | None

    def condition(self, node: Any) -> pd.Series:
        handlers: tuple[tuple[type, Callable[[Any], pd.Series]], ...] = (
            (ast.Not, lambda n: ~self.condition(n.sub_node)),
            (ast.And, lambda n: self.condition(n.lhs) & self.condition(n.rhs)),
            (ast.Or, lambda n: self.condition(n.lhs) | self.condition(n.rhs)),
            (ast.Comparison, self.compare),
            (ast.Between, self.between),
            (ast.Like, self.like),
            (ast.In, self.one_of),
            (ast.IsNull, self.is_null),
            (ast.GeometryIntersects, self.intersects),
        )
        for klass, handle in handlers:
            if isinstance(node, klass) and (klass is not ast.Comparison or type(node) in COMPARE):
                return handle(node)
        name = type(node).__name__
        raise OptionError(f"filter: {name} is not supported (see the conformance classes)")

    def between(self, node: ast.Between) -> pd.Series:
        column = self.column(node.lhs, self.literal(node.low), self.literal(node.high))
        inside = _on_values(column, lambda c: (c >= node.low) & (c <= node.high))
        return ~inside if node.not_ else inside

    def one_of(self, node: ast.In) -> pd.Series:
        options = [self.literal(v) for v in node.sub_nodes]
        found = self.column(node.lhs, *options).isin(options)
        return ~found if node.not_ else found

    def is_null(self, node: ast.IsNull) -> pd.Series:
        null = self.column(node.lhs).isna()
        return ~null if node.not_ else null

    def compare(self, node: Any) -> pd.Series:
        lhs, rhs, op = node.lhs, node.rhs, COMPARE[type(node)]
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            flipped = {operator.lt: operator.gt, operator.gt: operator.lt,
                       operator.le: operator.ge, operator.ge: operator.le}  # fmt: skip
            lhs, rhs, op = rhs, lhs, flipped.get(op, op)
        column = self.column(lhs, self.literal(rhs))
        return _on_values(column, lambda c: op(c, rhs))

    def like(self, node: ast.Like) -> pd.Series:
        pattern = self.literal(node.pattern)
        column = self.column(node.lhs, pattern)
        parts = []
        escaped = False
        for char in str(pattern):
            if escaped:
                parts.append(re.escape(char))
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                parts.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
        regex = re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if node.nocase else 0))
        found = column.map(lambda v: isinstance(v, str) and regex.fullmatch(v) is not None)
        found = found.astype(bool)
        return ~found if node.not_ else found

    def intersects(self, node: Any) -> pd.Series:
        lhs, rhs = node.lhs, node.rhs
        if isinstance(lhs, ast.Attribute) is False:
            lhs, rhs = rhs, lhs
        if not isinstance(lhs, ast.Attribute) or lhs.name != GEOMETRY:
            raise OptionError(
                "filter: S_INTERSECTS compares the property 'geometry' with a literal"
            )
        try:
            geom = _geometry(rhs)
            if self.to_frame_crs is not None:
                geom = self.to_frame_crs(geom)
            hits = self.frame.geometry.intersects(geom).to_numpy()
        except (shapely.errors.GEOSException, ValueError, TypeError, AttributeError) as exc:
            raise OptionError(f"filter: S_INTERSECTS cannot use {rhs!r}: {exc}") from exc
        return pd.Series(hits, index=self.frame.index)

    def literal(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            shown = "an attribute" if isinstance(value, ast.Attribute) else repr(value)
            raise OptionError(f"filter: expected a text or number literal, got {shown}")
        return value

    def column(self, node: Any, *literals: Any) -> pd.Series:
        if not isinstance(node, ast.Attribute):
            raise OptionError(f"filter: expected a queryable on the left, got {node!r}")
        q = self.queryables.get(node.name)
        if q is None or node.name not in self.frame.columns:
            known = ", ".join(self.queryables)
            raise OptionError(f"filter: unknown queryable {node.name!r}; queryables: {known}")
        numeric = q.type in {"integer", "number"}
        for value in literals:
            if numeric != isinstance(value, int | float):
                kind = "a number" if numeric else "a text (in single quotes)"
                raise OptionError(f"filter: {node.name} is compared with {kind}, got {value!r}")
        column: pd.Series = self.frame[node.name]
        return column


def _on_values(column: pd.Series, test: Callable[[pd.Series], Any]) -> pd.Series:
    """``test`` on the non-null values; a null never matches (CQL2: unknown is not true)."""
    out = pd.Series(False, index=column.index)
    valid = column.notna()
    if valid.any():
        out[valid] = np.asarray(test(column[valid]), dtype=bool)
    return out


def _geometry(value: Any) -> shapely.Geometry:
    if isinstance(value, values.Geometry):
        return shapely.geometry.shape(value.geometry)
    if isinstance(value, values.Envelope):
        return shapely.box(value.x1, value.y1, value.x2, value.y2)
    if isinstance(value, ast.Function) and value.name.lower() == "bbox":
        args = value.arguments
        if len(args) == 6:
            args = [args[0], args[1], args[3], args[4]]
        if len(args) == 4 and all(isinstance(a, int | float) for a in args):
            return shapely.box(*args)
    raise OptionError(f"filter: S_INTERSECTS needs a geometry literal or BBOX(…), got {value!r}")
