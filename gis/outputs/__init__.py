"""Outputs: files written atomically, folium maps, public-notice sheets."""
