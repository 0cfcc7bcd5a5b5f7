"""``sandbox bench paillier``: Paillier encryption, packing and addition with ``homomorphic``
against stock ``phe`` (which uses gmpy2 when installed, as here), in the same run.

Micro cases, 2048-bit keys (``--quick`` shrinks the counts):

- ``encrypt``: 10k single values, one core; ours = ``homomorphic.encrypt`` (DJN fixed-base
  table with the default |n|/2-bit exponent, table build included) returning
  ``phe.EncryptedNumber``; baseline = ``phe.PaillierPublicKey.encrypt`` on the same values.
- ``encrypt-packed``: 100k decimal values; ours = ``encrypt_packed`` on a
  ``ProcessPoolExecutor(2)`` created (and started) by the bench, each worker building its own
  table inside the timing; baseline = stock ``phe`` encrypting each value, timed on a sample
  and scaled linearly (``baseline_note``).
- ``decrypt-packed``: the same 100k values, packed; ours = ``decrypt_packed_many`` on the
  pool; baseline = stock ``phe`` decrypting single-value ciphertexts, sampled likewise.
- ``add``: adding up 100k encrypted values; ours = ``sum_packed`` over the packed ciphertexts
  (one product, slot-wise sums); baseline = ``phe``'s ``+`` over 100k ``EncryptedNumber``s
  (a pool of distinct ciphertexts reused: the cost of ``+`` does not depend on the values).

Each side runs in a fresh process; ``peak_rss_mb`` is ours (the largest of its process and its
pool workers, from VmHWM), ``baseline_peak_rss_mb`` the baseline's. ``bench.harness`` is
imported only by the parent: it pulls in the whole runtime (~135 MB) and would dwarf the
numbers in the children. Job-level cases (``secure-sum-3x100k``, ``intersection-sum-100k``)
need the job runtime and go in ``_STAGE_CASES``.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from homomorphic import hazmat
from homomorphic.encryption import encrypt, encrypt_many, exponent_bits_for
from homomorphic.keys import PrivateKey, PublicKey, generate_keypair
from homomorphic.packing import (
    PackedCiphertext,
    PackingLayout,
    decrypt_packed_many,
    encrypt_packed,
    sum_packed,
)

KEY_BITS = 2048
WORKERS = 2
MAX_ABS = Decimal("1000000")  # amounts up to a million with 2 decimals
DECIMALS = 2
MAX_ADDITIONS = 2048  # enough for the ``add`` case's ~1.9k packed ciphertexts


@dataclass(frozen=True)
class Sizes:
    encrypt: int
    packed: int
    sample: int


FULL = Sizes(encrypt=10_000, packed=100_000, sample=2_000)
QUICK = Sizes(encrypt=300, packed=5_000, sample=200)


def _hwm_mb(pid: int | str = "self") -> float:
    """Peak RSS of a process from /proc (VmHWM). Unlike ``ru_maxrss``, which Linux carries
    across exec (a spawned child would report its parent's peak), it starts fresh."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


_workers_peak_mb: list[float] = [0.0]  # set by the cases that use a pool, in their child


def _child(fn: Callable[..., float], args: tuple[Any, ...], queue: Any) -> None:
    seconds = fn(*args)
    queue.put((seconds, max(_hwm_mb(), _workers_peak_mb[0])))


def in_child(fn: Callable[..., float], *args: Any) -> tuple[float, float]:
    """(seconds, peak RSS in MB incl. pool workers) of ``fn(*args)`` in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    seconds, rss = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{fn.__name__} failed in its child process")
    return float(seconds), float(rss)


def _warm(_: int) -> int:
    time.sleep(0.05)
    return 0


@contextmanager
def _started_pool() -> Iterator[ProcessPoolExecutor]:
    """A pool whose worker processes exist before the clock starts; records their peak RSS."""
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(_warm, range(2 * WORKERS)))
        yield pool
        pids = list(getattr(pool, "_processes", None) or ())
        _workers_peak_mb[0] = max((_hwm_mb(pid) for pid in pids), default=0.0)


# --- baselines: stock phe ----------------------------------------------------------------------


def baseline_encrypt(n: int, values: list[float]) -> float:
    import phe

    key = phe.PaillierPublicKey(n)
    start = time.perf_counter()
    for value in values:
        key.encrypt(value)
    return time.perf_counter() - start


def baseline_decrypt(n: int, p: int, q: int, ciphertexts: list[tuple[int, int]]) -> float:
    import phe

    public = phe.PaillierPublicKey(n)
    private = phe.PaillierPrivateKey(public, p, q)
    numbers = [phe.EncryptedNumber(public, c, e) for c, e in ciphertexts]
    start = time.perf_counter()
    for number in numbers:
        private.decrypt(number)
    return time.perf_counter() - start


def baseline_add(n: int, ciphertexts: list[tuple[int, int]], count: int) -> float:
    import phe

    public = phe.PaillierPublicKey(n)
    numbers = [phe.EncryptedNumber(public, c, e) for c, e in ciphertexts]
    start = time.perf_counter()
    total = numbers[0]
    for i in range(1, count):
        total = total + numbers[i % len(numbers)]
    return time.perf_counter() - start


# --- ours ----------------------------------------------------------------------------------------


def ours_encrypt(key: PublicKey, values: list[float]) -> float:
    start = time.perf_counter()
    for value in values:
        encrypt(key, value)
    return time.perf_counter() - start


def ours_encrypt_packed(key: PublicKey, values: list[Decimal], layout: PackingLayout) -> float:
    with _started_pool() as pool:
        start = time.perf_counter()
        packed = encrypt_packed(key, values, layout, executor=pool)
        seconds = time.perf_counter() - start
    assert len(packed) == -(-len(values) // layout.slots)
    return seconds


def ours_decrypt_packed(
    key: PrivateKey, packed: list[PackedCiphertext], values: list[Decimal]
) -> float:
    with _started_pool() as pool:
        start = time.perf_counter()
        opened = decrypt_packed_many(key, packed, executor=pool)
        seconds = time.perf_counter() - start
    assert [v for vs in opened for v in vs] == values
    return seconds


def ours_add(packed: list[PackedCiphertext]) -> float:
    start = time.perf_counter()
    total = sum_packed(packed)
    seconds = time.perf_counter() - start
    assert total.count == len(packed)
    return seconds


# --- cases ---------------------------------------------------------------------------------------


@dataclass
class Setup:
    sizes: Sizes
    public_key: PublicKey
    private_key: PrivateKey
    layout: PackingLayout
    amounts: list[Decimal]
    _packed: list[PackedCiphertext] | None = None

    @property
    def packed(self) -> list[PackedCiphertext]:
        if self._packed is None:
            self._packed = encrypt_packed(self.public_key, self.amounts, self.layout)
        return self._packed

    def common(self) -> dict[str, Any]:
        bits = exponent_bits_for(self.public_key)
        window = hazmat.default_window_bits(bits, self.public_key.nsquare.bit_length())
        return {"key_bits": self.public_key.bits, "exponent_bits": bits, "window_bits": window}

    def packing(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "slots": layout.slots,
            "slot_bits": layout.slot_bits,
            "decimals": layout.decimals,
            "max_additions": layout.max_additions,
            "ciphertexts": -(-len(self.amounts) // layout.slots),
        }


def _setup(quick: bool) -> Setup:
    sizes = QUICK if quick else FULL
    public_key, private_key = generate_keypair(KEY_BITS)
    layout = PackingLayout.fit(
        public_key, max_abs=MAX_ABS, max_additions=MAX_ADDITIONS, decimals=DECIMALS
    )
    rnd = random.Random(6)
    bound = int(MAX_ABS) * 10**DECIMALS
    amounts = [Decimal(rnd.randint(-bound, bound)).scaleb(-DECIMALS) for _ in range(sizes.packed)]
    return Setup(sizes, public_key, private_key, layout, amounts)


def _case_encrypt(s: Setup) -> None:
    values = [float(v) for v in s.amounts[: s.sizes.encrypt]]
    base_s, base_rss = in_child(baseline_encrypt, s.public_key.n, values)
    ours_s, ours_rss = in_child(ours_encrypt, s.public_key, values)
    emit(
        "encrypt",
        base_s,
        ours_s,
        ours_rss,
        values=len(values),
        cores=1,
        **s.common(),
        note="ours includes building the fixed-base table",
        baseline_peak_rss_mb=round(base_rss, 1),
    )


def _case_encrypt_packed(s: Setup) -> None:
    sample = [float(v) for v in s.amounts[: s.sizes.sample]]
    base_sample_s, base_rss = in_child(baseline_encrypt, s.public_key.n, sample)
    base_s = base_sample_s * len(s.amounts) / len(sample)
    ours_s, ours_rss = in_child(ours_encrypt_packed, s.public_key, s.amounts, s.layout)
    emit(
        "encrypt-packed",
        base_s,
        ours_s,
        ours_rss,
        values=len(s.amounts),
        workers=WORKERS,
        **s.common(),
        **s.packing(),
        baseline_sample=len(sample),
        baseline_note=(
            f"stock phe encrypt timed on {len(sample)} values, scaled linearly to "
            f"{len(s.amounts)}; ours includes each worker building its table"
        ),
        baseline_peak_rss_mb=round(base_rss, 1),
    )


def _case_decrypt_packed(s: Setup) -> None:
    sample = encrypt_many(s.public_key, [float(v) for v in s.amounts[: s.sizes.sample]])
    pairs = [(number.ciphertext(be_secure=False), number.exponent) for number in sample]
    key = s.private_key
    base_sample_s, base_rss = in_child(baseline_decrypt, key.public_key.n, key.p, key.q, pairs)
    base_s = base_sample_s * len(s.amounts) / len(sample)
    ours_s, ours_rss = in_child(ours_decrypt_packed, key, s.packed, s.amounts)
    emit(
        "decrypt-packed",
        base_s,
        ours_s,
        ours_rss,
        values=len(s.amounts),
        workers=WORKERS,
        **s.common(),
        **s.packing(),
        baseline_sample=len(sample),
        baseline_note=(
            f"stock phe decrypt of {len(sample)} single-value ciphertexts, scaled linearly "
            f"to {len(s.amounts)}"
        ),
        baseline_peak_rss_mb=round(base_rss, 1),
    )


def _case_add(s: Setup) -> None:
    # Amounts at a fixed precision share one exponent, so phe's + does one modular
    # multiplication per addition (no exponent alignment), the cheapest case for the baseline.
    values = [float(v) for v in s.amounts[: s.sizes.sample]]
    sample = encrypt_many(s.public_key, values, precision=0.01)
    pairs = [(number.ciphertext(be_secure=False), number.exponent) for number in sample]
    base_s, base_rss = in_child(baseline_add, s.public_key.n, pairs, len(s.amounts))
    ours_s, ours_rss = in_child(ours_add, s.packed)
    emit(
        "add",
        base_s,
        ours_s,
        ours_rss,
        values=len(s.amounts),
        **s.common(),
        **s.packing(),
        baseline_note=(
            f"phe + over {len(s.amounts)} EncryptedNumbers ({len(pairs)} distinct ciphertexts "
            "reused); ours adds the packed ciphertexts slot-wise (the total is the sum of the "
            "decrypted slots)"
        ),
        baseline_peak_rss_mb=round(base_rss, 1),
    )


_MICRO_CASES: dict[str, Callable[[Setup], None]] = {
    "encrypt": _case_encrypt,
    "encrypt-packed": _case_encrypt_packed,
    "decrypt-packed": _case_decrypt_packed,
    "add": _case_add,
}
# Cases that run jobs through real workers (bench.harness.stage), in bench.he_jobs.
_STAGE_CASES = ("secure-sum-3x100k", "intersection-sum-100k")

CASES = (*_MICRO_CASES, *_STAGE_CASES)


def emit(case: str, baseline_s: float, ours_s: float, peak_rss_mb: float, **params: Any) -> None:
    from bench import harness  # here, not at the top: see the module docstring

    harness.emit(case, baseline_s, ours_s, peak_rss_mb, **params)


def run(*, quick: bool, only: tuple[str, ...] = ()) -> None:
    """Every case (or ``only`` these), one JSON line each."""
    wanted = [case for case in _MICRO_CASES if not only or case in only]
    if wanted:
        setup = _setup(quick)
        for case in wanted:
            _MICRO_CASES[case](setup)
    if not only or set(only) & set(_STAGE_CASES):
        from bench import he_jobs
        from bench.harness import stage

        with stage() as st:
            list(he_jobs.stage_cases(st, quick=quick, only=only))
