"""The tamper-evident ledger (DESIGN §5): canonical JSON entries in an RFC 6962 Merkle tree
with Ed25519-signed checkpoints, inclusion and consistency proofs, and offline verification."""
