"""Shared geometry: CRS handling, GCJ-02/BD-09 offsets, the ownership rule for points on shared
edges, outlines that tile.
"""
