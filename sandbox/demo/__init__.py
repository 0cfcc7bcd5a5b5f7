"""The deterministic demo world used by ``sandbox demo``: the parties of the flagship SME
credit-check scenario (DOMAIN.md) and the synthetic datasets each data-holding party registers.
"""
