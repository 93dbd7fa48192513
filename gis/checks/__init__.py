"""Checking a plan from geometry alone: coverage, band, contiguity, buildings, streets,
compactness.
"""
