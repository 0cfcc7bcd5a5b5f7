"""Job-level Paillier cases for ``sandbox bench paillier``: the protocol end to end through real
worker processes (the gate's domain, the data domains, the coordinator), against the same
protocol done with stock ``phe`` calls in one process, in the same run.

``secure-sum-3x100k``: three data domains of 100k rows each add up a decimal amount per region
(50 declared regions). Ours: ``he.keygen`` (2048-bit, as the issue's comparisons ask) in the
gate's domain, each domain groups and encrypts its (count, Σx, Σx²) per region, one domain adds
the three vectors, the gate decrypts the totals, suppresses small groups and releases. Baseline:
one process with stock ``phe``: key generation, each party's rows grouped (from the same CSV
lines, parsed the same way), (count, Σx, Σx²) per region encrypted one number at a time, added
across the parties, and decrypted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal

from bench.harness import Stage, credit_codes, emit, in_child
from sandbox.compute.grouped import Grouping
from sandbox.compute.plans import Contributor, GateControls, he_plan
from sandbox.datasets.schema import Schema

REGIONS = tuple(f"R{i:02d}" for i in range(50))
KEY_BITS = 2048
HEADER = "credit_code,region,amount"


def _schema(name: str) -> Schema:
    return Schema.model_validate(
        {
            "name": name,
            "title": f"bench {name}",
            "openness": "conditional",
            "grade": "general",
            "identifier": {"column": "credit_code", "kind": "credit_code"},
            "columns": [
                {"name": "credit_code", "type": "string", "required": True},
                {"name": "region", "type": "category", "values": list(REGIONS)},
                {"name": "amount", "type": "decimal"},
            ],
        }
    )


def party_rows(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    codes = credit_codes(count, seed)
    return [
        f"{code},{rng.choice(REGIONS)},{rng.randrange(3_000_000, 1_000_000_000) / 100:.2f}"
        for code in codes
    ]


def baseline_secure_sum(parties: list[list[str]]) -> float:
    """The same protocol with stock phe, in one process."""
    import phe

    start = time.perf_counter()
    public, private = phe.generate_paillier_keypair(n_length=KEY_BITS)
    index = {r: i for i, r in enumerate(REGIONS)}
    totals: list[list[phe.EncryptedNumber]] | None = None
    for lines in parties:
        moments = [[0, 0, 0] for _ in REGIONS]
        for line in lines:
            _, region, amount = line.split(",")
            cents = int(Decimal(amount) * 100)
            m = moments[index[region]]
            m[0] += 1
            m[1] += cents
            m[2] += cents * cents
        encrypted = [[public.encrypt(v) for v in m] for m in moments]
        totals = (
            encrypted
            if totals is None
            else [
                [a + b for a, b in zip(t, e, strict=True)]
                for t, e in zip(totals, encrypted, strict=True)
            ]
        )
    assert totals is not None
    decrypted = [[private.decrypt(v) for v in t] for t in totals]
    assert sum(d[0] for d in decrypted) == sum(len(p) for p in parties)
    return time.perf_counter() - start


def secure_sum_case(st: Stage, *, rows: int, parties: int = 3, seed: int = 11) -> None:
    domains = ("prov", "prov2", "prov3")[:parties]
    for domain in (*domains, "gate"):
        st.workers(domain, 1)
    data = [party_rows(rows, seed + i) for i in range(parties)]
    refs = [
        st.load_rows(d, f"amounts_{d}", _schema(f"amounts_{d}"), HEADER, iter(lines))
        for d, lines in zip(domains, data, strict=True)
    ]
    base_s, base_rss = in_child(baseline_secure_sum, data)
    grouping = Grouping(("region",), tuple((r,) for r in REGIONS), "amount", 2, None)
    plan = he_plan(
        "secure_sum",
        "gate",
        [
            Contributor(d, ref, ("region", "amount"), rows)
            for d, ref in zip(domains, refs, strict=True)
        ],
        grouping,
        GateControls(recipient="bench-bank", min_cohort=10, key_bits=KEY_BITS),
    )
    ours_s, job = st.run("secure_sum", plan)
    assert job.result_json is not None, job.error_message
    assert job.result_json["rows"] == rows * parties, job.result_json
    emit(
        f"secure-sum-{parties}x{_size(rows)}",
        base_s,
        ours_s,
        st.worker_peak_mb(),
        parties=parties,
        rows_per_party=rows,
        groups=len(REGIONS),
        key_bits=KEY_BITS,
        baseline_peak_rss_mb=round(base_rss, 1),
        note="ours through workers from each domain's stored CSV; both pre-aggregate per group",
    )


def _size(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def stage_cases(st: Stage, *, quick: bool, only: tuple[str, ...]) -> Iterator[str]:
    """Run the job-level cases wanted; yields the names run."""
    if not only or "secure-sum-3x100k" in only:
        secure_sum_case(st, rows=5_000 if quick else 100_000)
        yield "secure-sum-3x100k"
