"""Reading an area: conventional GeoPackage or separate files, OpenStreetMap, household counts or
estimates.
"""
