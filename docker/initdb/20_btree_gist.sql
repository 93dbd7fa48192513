-- Runs once when the db volume is first initialised, after the image's 10_postgis.sh.
-- btree_gist lets exclusion constraints mix equality (version) with geometry overlap.
CREATE EXTENSION IF NOT EXISTS btree_gist;
