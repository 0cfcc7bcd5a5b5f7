"""Hazardous primitives: raw Paillier encryption with DJN random factors, fixed-base tables, CRT
decryption, and the chunk functions that executor workers run.

Everything here is hazardous: nothing validates plaintexts, ciphertexts or exponents beyond what
is needed not to compute garbage silently, nothing encodes signs or decimals, and a wrong
exponent length silently weakens every ciphertext. Use the recipes (``encryption``,
``packing``, ``aggregates``) unless you are writing one.

Random factor (Damgård–Jurik–Nielsen 2010, §4.2): ``r = hs^a mod n²`` for a uniform exponent
``a`` of ``exponent_bits`` bits. Since ``hs = h^n``, r is an n-th power like the ``r^n`` of
textbook Paillier, and ``c = (1 + m·n)·r mod n²`` is an ordinary Paillier ciphertext that stock
``phe`` decrypts. Security rests on DJN's assumption that ``hs^a`` for a ``|n|/2``-bit ``a`` is
indistinguishable from a uniform n-th power (a short-exponent variant of the decisional
composite residuosity assumption); shorter exponents rest on a stronger short-exponent
assumption (see the package README).

Fixed-base table (the windowed method of Brickell–Gordon–McCurley–Wilson without the second
phase): with window w, ``rows[i][j] = hs^(j·2^(w·i)) mod n²`` for ``j < 2^w``; then
``hs^a = ∏ rows[i][a_i]`` over the base-2^w digits ``a_i`` of a, i.e. about
``exponent_bits / w`` modular multiplications instead of a full ``powmod``. Tables are built
once per (key, exponent length, window) per process and kept in a small module-level cache, so
each executor worker builds its own on first use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from homomorphic import _gmp
from homomorphic._gmp import Mpz
from homomorphic.keys import PrivateKey, PublicKey, Rng, random_bits

__all__ = [
    "MAX_WINDOW_BITS",
    "TABLE_BUDGET_BYTES",
    "FixedBaseTable",
    "clear_tables",
    "decrypt_chunk",
    "default_window_bits",
    "encrypt_chunk",
    "random_exponents",
    "raw_decrypt",
    "raw_encrypt",
    "raw_rerandomize",
    "rerandomize_chunk",
    "table_for",
]

TABLE_BUDGET_BYTES = 64 << 20
"""Memory a default table may take: window 10 for 2048-bit keys (~57 MB), 8 for 3072 (~39 MB)."""
MAX_WINDOW_BITS = 10
_MPZ_OVERHEAD_BYTES = 32
_MAX_TABLES = 2  # per process; a worker serves one job key at a time, a second avoids thrash


class FixedBaseTable:
    """Hazardous: ``base^e mod modulus`` for ``0 <= e < 2**exponent_bits`` by table lookups."""

    __slots__ = ("_modulus", "_rows", "exponent_bits", "modulus_bits", "window_bits")

    def __init__(self, base: int, modulus: int, *, exponent_bits: int, window_bits: int) -> None:
        if not 1 <= window_bits <= MAX_WINDOW_BITS or exponent_bits < 1:
            raise ValueError(f"window_bits must be in [1, {MAX_WINDOW_BITS}], exponent_bits >= 1")
        self.exponent_bits = exponent_bits
        self.window_bits = window_bits
        self.modulus_bits = modulus.bit_length()
        m = _gmp.mpz(modulus)
        one = _gmp.mpz(1)
        step = _gmp.mpz(base) % m
        rows: list[list[Mpz]] = []
        for _ in range(-(-exponent_bits // window_bits)):
            row = [one, step]
            for _ in range(2, 1 << window_bits):
                row.append(row[-1] * step % m)
            rows.append(row)
            step = row[-1] * step % m
        self._rows = rows
        self._modulus = m

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the table."""
        entry = (self.modulus_bits + 7) // 8 + _MPZ_OVERHEAD_BYTES
        return len(self._rows) * (1 << self.window_bits) * entry

    def power(self, exponent: int) -> Mpz:
        """``base^exponent mod modulus`` (an mpz); ValueError if the exponent is out of range."""
        if exponent < 0 or exponent >> self.exponent_bits:
            raise ValueError("exponent out of the table's range")
        m = self._modulus
        digits = (
            exponent.to_bytes(len(self._rows), "little")
            if self.window_bits == 8
            else _gmp.digits(exponent, self.window_bits)
        )
        acc = None
        for row, digit in zip(self._rows, digits, strict=False):
            if digit:
                acc = row[digit] if acc is None else acc * row[digit] % m
        return self._rows[0][0] if acc is None else acc


def default_window_bits(exponent_bits: int, modulus_bits: int) -> int:
    """The largest window (at most MAX_WINDOW_BITS) whose table fits TABLE_BUDGET_BYTES."""
    entry = (modulus_bits + 7) // 8 + _MPZ_OVERHEAD_BYTES
    for window in range(MAX_WINDOW_BITS, 1, -1):
        if -(-exponent_bits // window) * (1 << window) * entry <= TABLE_BUDGET_BYTES:
            return window
    return 1


_TABLES: OrderedDict[tuple[str, int, int], FixedBaseTable] = OrderedDict()
_TABLES_LOCK = threading.Lock()


def table_for(
    public_key: PublicKey, exponent_bits: int, window_bits: int | None = None
) -> FixedBaseTable:
    """The fixed-base table of ``public_key.hs`` mod n², from this process's cache (keyed by
    the digest of (n, hs), the exponent length and the window), built on first use."""
    window = window_bits or default_window_bits(exponent_bits, public_key.nsquare.bit_length())
    key = (public_key.key_id, exponent_bits, window)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is not None:
            _TABLES.move_to_end(key)
            return table
    # Built outside the lock (a fork while it is held would leave a child locked out); two
    # threads racing build twice and keep one.
    table = FixedBaseTable(
        public_key.hs, public_key.nsquare, exponent_bits=exponent_bits, window_bits=window
    )
    with _TABLES_LOCK:
        _TABLES[key] = table
        while len(_TABLES) > _MAX_TABLES:
            _TABLES.popitem(last=False)
    return table


def clear_tables() -> None:
    """Drop this process's cached tables (to free memory once a job's key is done)."""
    with _TABLES_LOCK:
        _TABLES.clear()


def random_exponents(rng: Rng, exponent_bits: int, count: int) -> list[int]:
    """``count`` uniform exponents in [0, 2**exponent_bits)."""
    return [random_bits(rng, exponent_bits) for _ in range(count)]


def raw_encrypt(public_key: PublicKey, plaintext: int, exponent: int, exponent_bits: int) -> int:
    """``(1 + plaintext·n) · hs^exponent mod n²``. Hazardous: 0 <= plaintext < n unchecked."""
    factor = table_for(public_key, exponent_bits).power(exponent)
    return int((1 + plaintext * public_key.mpz_n) * factor % public_key.mpz_nsquare)


def raw_rerandomize(
    public_key: PublicKey, ciphertext: int, exponent: int, exponent_bits: int
) -> int:
    """``ciphertext · hs^exponent mod n²``: same plaintext, fresh randomness. Hazardous."""
    factor = table_for(public_key, exponent_bits).power(exponent)
    return int(ciphertext * factor % public_key.mpz_nsquare)


def raw_decrypt(private_key: PrivateKey, ciphertext: int) -> int:
    """The plaintext in [0, n) by CRT (Paillier 1999 §7). Hazardous: the ciphertext must
    already be validated (in [1, n²), a unit), or the result is meaningless."""
    k = private_key
    mp = (_gmp.powmod(ciphertext, k.mpz_p - 1, k.psquare) - 1) // k.mpz_p * k.hp % k.mpz_p
    mq = (_gmp.powmod(ciphertext, k.mpz_q - 1, k.qsquare) - 1) // k.mpz_q * k.hq % k.mpz_q
    return int(mp + (mq - mp) * k.p_inverse % k.mpz_q * k.mpz_p)


def encrypt_chunk(
    public_key: PublicKey, exponent_bits: int, plaintexts: Sequence[int], exponents: Sequence[int]
) -> list[int]:
    """Executor work unit: raw encryptions (picklable arguments, table from the cache)."""
    table = table_for(public_key, exponent_bits)
    n, nsquare = public_key.mpz_n, public_key.mpz_nsquare
    return [
        int((1 + m * n) * table.power(a) % nsquare)
        for m, a in zip(plaintexts, exponents, strict=True)
    ]


def rerandomize_chunk(
    public_key: PublicKey, exponent_bits: int, ciphertexts: Sequence[int], exponents: Sequence[int]
) -> list[int]:
    """Executor work unit: raw re-randomizations."""
    table = table_for(public_key, exponent_bits)
    nsquare = public_key.mpz_nsquare
    return [int(c * table.power(a) % nsquare) for c, a in zip(ciphertexts, exponents, strict=True)]


def decrypt_chunk(private_key: PrivateKey, ciphertexts: Sequence[int]) -> list[int]:
    """Executor work unit: raw CRT decryptions of validated ciphertexts."""
    return [raw_decrypt(private_key, c) for c in ciphertexts]
