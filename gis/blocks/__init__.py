"""Street blocks: bounding roads, polygonised blocks with their households, the block adjacency
graph.
"""
