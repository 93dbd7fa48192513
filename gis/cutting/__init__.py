"""Cutting blocks above the maximum into atoms: compact straight cuts, inner lines, building cells,
carving sites.
"""
