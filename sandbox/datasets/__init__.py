"""Datasets inside domains: schemas, ingestion, quality figures, synthetic samples, catalog."""
