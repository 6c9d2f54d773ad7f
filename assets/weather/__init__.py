"""Asset family: weather."""
