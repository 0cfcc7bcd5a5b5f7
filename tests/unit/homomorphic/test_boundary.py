"""The package boundary: pure imports only, recipes exported, hazmat marked hazardous."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import homomorphic
from homomorphic import hazmat

PACKAGE = Path(homomorphic.__file__).resolve().parent
ALLOWED_THIRD_PARTY = {"gmpy2", "phe", "homomorphic"}
FORBIDDEN_STDLIB = {"os", "sys", "io", "logging", "socket", "subprocess", "pathlib", "shutil",
                    "tempfile", "random", "time", "datetime", "multiprocessing"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_modules_import_only_the_stdlib_gmpy2_and_phe() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imports(path):
            assert name not in FORBIDDEN_STDLIB, f"{path.name} imports {name}"
            assert (
                name in ALLOWED_THIRD_PARTY
                or name in sys.stdlib_module_names
                or (name == "__future__")
            ), f"{path.name} imports {name}"


def test_init_exports_recipes_not_hazmat() -> None:
    exported = set(homomorphic.__all__)
    assert {
        "encrypt",
        "decrypt",
        "encrypt_packed",
        "PackedCiphertext",
        "generate_keypair",
    } <= exported
    assert not exported & set(hazmat.__all__)
    assert all(hasattr(homomorphic, name) for name in exported)


def test_hazmat_says_it_is_hazardous() -> None:
    assert "hazardous" in (hazmat.__doc__ or "").lower()
    for name in ("FixedBaseTable", "raw_encrypt", "raw_rerandomize", "raw_decrypt"):
        assert "hazardous" in (getattr(hazmat, name).__doc__ or "").lower(), name
