"""Private set intersection and private lookup as pure, IO-free protocol steps.

Modules: ``errors`` (the one opaque ProtocolError), ``wire`` (typed, versioned, bound framing),
``group`` (secp256k1 through coincurve), ``shards`` (keyed partition), ``ecdh``
(``psi.intersection`` / ``psi.cardinality`` over openmined-psi) and ``lookup`` (labeled PSI).
See README.md in this package for its boundary and what each party learns.
"""
