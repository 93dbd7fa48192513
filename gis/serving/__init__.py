"""What the service needs from the library: the point-to-grid index, features and tiles, address
matching.
"""
