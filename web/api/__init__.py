"""The REST API under /api/v1: bearer-token auth, JSON errors with a stable code."""
