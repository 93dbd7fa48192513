"""The wangge web service (FastAPI): lookups, features, tiles and the map."""
