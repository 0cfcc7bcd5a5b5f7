"""Privacy computations as job steps: the runners that drive the pure protocols of ``psi``
between domains, through the exchange, under verified tickets (DESIGN §4)."""
