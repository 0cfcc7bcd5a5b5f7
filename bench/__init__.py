"""Benchmarks run by ``sandbox bench NAME``: one JSON object per line per case (DESIGN §8)."""
