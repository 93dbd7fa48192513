"""The partition search: how many grids, a contiguous seed, local search and spanning-tree
recombination, per unit.
"""
