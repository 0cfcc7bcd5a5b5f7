"""See README.md in this package for its boundary."""
