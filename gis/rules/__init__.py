"""The rules of grid work: dedicated grids, natural villages, unit cells, codes, staff rosters."""
