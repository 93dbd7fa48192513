-- One vector tile of one plan version: layers grids, grid_labels, cells, units.
-- Parameters: z, x, y, v (version id), ts (the version's start, for units), band_min, band_max
-- (the band of version v itself, so each version is coloured by its own band),
-- tol (degrees: half a tile pixel; geometries are simplified by that much, invisible).
WITH b AS (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096), 4326) AS q
),
g AS (
    SELECT grid_code, kind, households, parent_code, parent_name,
           CASE WHEN kind = 'dedicated' THEN 'dedicated'
                WHEN households < %(band_min)s THEN 'under'
                WHEN households > %(band_max)s THEN 'over' ELSE 'within' END AS load,
           geom
    FROM grids, b WHERE version_id = %(v)s AND geom && b.q
)
SELECT coalesce((SELECT ST_AsMVT(t, 'grids', 4096, 'geom') FROM (
           SELECT grid_code, kind, households, parent_code, parent_name, load,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(g.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM g, b) t WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'grid_labels', 4096, 'geom') FROM (
           SELECT grid_code, households, kind,
                  ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(g.geom), 3857), b.env, 4096, 64,
                               true) AS geom
           FROM g, b) t WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'cells', 4096, 'geom') FROM (
           SELECT c.cell_code, c.grid_code, c.households,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(c.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM cells c, b WHERE c.version_id = %(v)s AND c.geom && b.q) t
           WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'units', 4096, 'geom') FROM (
           SELECT u.unit_code, u.unit_name, u.level,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(u.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM units u, b WHERE u.valid_during @> %(ts)s::timestamptz AND u.geom && b.q) t
           WHERE geom IS NOT NULL), '')
