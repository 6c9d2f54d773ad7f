"""Asset family: warehouse."""
