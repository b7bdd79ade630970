"""Geometry: coordinate reference systems, point-in-area joins and apportionment between areas.

Pure functions on GeoDataFrames; nothing here touches the database or the web.
"""
