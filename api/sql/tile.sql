-- One vector tile of one plan version: layers grids, grid_labels, cells, units.
-- Parameters: z, x, y, v (version id), ts (the version's start, for units), band_min, band_max
-- (the band of version v itself, so each version is coloured by its own band), unit_bands
-- (JSON: unit code → [min, max] of units partitioned with a band of their own),
-- tol (degrees: half a tile pixel; geometries are simplified by that much, invisible).
-- Feature ids (fid, ST_AsMVT's feature_id_name): 1 + the rank of the code within the layer
-- in code-point order (COLLATE "C"), as gis.serving.features.feature_ids gives in memory;
-- a grid's label has the grid's id.
WITH b AS (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096), 4326) AS q
),
g AS (
    SELECT a.* FROM (
        SELECT row_number() OVER (ORDER BY grid_code COLLATE "C") AS fid,
               grid_code, kind, households, parent_code, parent_name,
               CASE WHEN kind = 'dedicated' THEN 'dedicated'
                    WHEN households < coalesce((%(unit_bands)s::jsonb -> parent_code ->> 0)::int,
                                               %(band_min)s) THEN 'under'
                    WHEN households > coalesce((%(unit_bands)s::jsonb -> parent_code ->> 1)::int,
                                               %(band_max)s) THEN 'over'
                    ELSE 'within' END AS load,
               geom
        FROM grids WHERE version_id = %(v)s) a, b
    WHERE a.geom && b.q
),
c AS (
    SELECT a.* FROM (
        SELECT row_number() OVER (ORDER BY cell_code COLLATE "C") AS fid,
               cell_code, grid_code, households, geom
        FROM cells WHERE version_id = %(v)s) a, b
    WHERE a.geom && b.q
),
u AS (
    SELECT a.* FROM (
        SELECT row_number() OVER (ORDER BY unit_code COLLATE "C") AS fid,
               unit_code, unit_name, level, geom
        FROM units WHERE valid_during @> %(ts)s::timestamptz) a, b
    WHERE a.geom && b.q
)
SELECT coalesce((SELECT ST_AsMVT(t, 'grids', 4096, 'geom', 'fid') FROM (
           SELECT fid, grid_code, kind, households, parent_code, parent_name, load,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(g.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM g, b) t WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'grid_labels', 4096, 'geom', 'fid') FROM (
           SELECT fid, grid_code, households, kind,
                  ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(g.geom), 3857), b.env, 4096, 64,
                               true) AS geom
           FROM g, b) t WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'cells', 4096, 'geom', 'fid') FROM (
           SELECT fid, cell_code, grid_code, households,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(c.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM c, b) t WHERE geom IS NOT NULL), '')
    || coalesce((SELECT ST_AsMVT(t, 'units', 4096, 'geom', 'fid') FROM (
           SELECT fid, unit_code, unit_name, level,
                  ST_AsMVTGeom(ST_Transform(ST_Simplify(u.geom, %(tol)s, true), 3857), b.env, 4096, 64, true) AS geom
           FROM u, b) t WHERE geom IS NOT NULL), '')
