"""The privacy-computing runtime. See README.md in this package for its boundary."""
