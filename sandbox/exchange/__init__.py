"""The exchange: protocol messages between domains, content-addressed, with a TTL (DESIGN §2)."""
