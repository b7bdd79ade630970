"""Local Insight: geospatial insight for UK councils and their VCFS partners (see docs/architecture.md)."""
