"""Normalization and validation of the identifiers that matching jobs join on.

Sources: GB 32100-2015 (unified social credit code: 18 characters over a 31-character
alphabet without I, O, Z, S, V; check character = 31 - (Σ wᵢ·cᵢ mod 31)), GB 11643-1999
(resident identity number: 17 digits and an ISO 7064 MOD 11-2 check character, 'X' for 10).

Rejections carry a reason code, never the value: callers report them by line number only.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from typing import NamedTuple


class IdentifierKind(enum.StrEnum):
    CREDIT_CODE = "credit_code"
    RESIDENT_ID = "resident_id"
    PHONE = "phone"
    OPAQUE = "opaque"


CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CHARS = frozenset(CREDIT_CODE_ALPHABET)
_TO_BASE34 = str.maketrans(CREDIT_CODE_ALPHABET, "0123456789abcdefghijklmnopqrstu")
_NOT_CREDIT = str.maketrans("", "", CREDIT_CODE_ALPHABET)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SEPARATORS = re.compile(r"[\s\-]+")
_PHONE = re.compile(r"1[3-9][0-9]{9}")
MAX_OPAQUE_CHARS = 128


class Checked(NamedTuple):
    """The outcome of checking one identifier: a normalized value, or a reason code. (A named
    tuple: made once per row of every protocol input, it costs a quarter of a frozen
    dataclass.)"""

    value: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def _fold(raw: str) -> str:
    # NFKC maps full-width letters, digits and the ideographic space to their ASCII forms.
    return unicodedata.normalize("NFKC", raw).strip()


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    if len(first17) != 17 or any(ch not in _CREDIT_CHARS for ch in first17):
        raise ValueError("need 17 characters of the credit-code alphabet")
    return _credit_check(first17)


def _credit_check(first17: str) -> str:
    # The weights are 3**i mod 31, and 34 = 3 (mod 31): read the 17 values, last first, as one
    # base-34 number (digits 0-9a-u stand for 0..30) and its residue is the weighted sum's. The
    # caller has checked length and alphabet; int() keeps the loop in C (stored data sets check
    # every identifier before each protocol run).
    return CREDIT_CODE_ALPHABET[-int(first17[16::-1].translate(_TO_BASE34), 34) % 31]


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a resident identity number whose first 17 digits are given."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_credit_code(raw: str) -> Checked:
    if len(raw) == 18 and raw.isascii() and not raw.translate(_NOT_CREDIT) and raw[2:8].isdigit():
        # Already normalized (as every stored value is): only the check character is left.
        if _credit_check(raw[:17]) != raw[17]:
            return Checked(None, "bad_check_character")
        return Checked(raw)
    code = _SEPARATORS.sub("", _fold(raw)).upper()
    if not code:
        return Checked(None, "empty")
    if len(code) != 18:
        return Checked(None, "wrong_length")
    if any(ch not in _CREDIT_CHARS for ch in code):
        return Checked(None, "bad_character")
    if not code[2:8].isdigit():
        return Checked(None, "bad_division_code")
    if credit_code_check_char(code[:17]) != code[17]:
        return Checked(None, "bad_check_character")
    return Checked(code)


def check_resident_id(raw: str) -> Checked:
    number = _SEPARATORS.sub("", _fold(raw)).upper()
    if not number:
        return Checked(None, "empty")
    if len(number) != 18:
        return Checked(None, "wrong_length")
    if not number[:17].isascii() or not number[:17].isdigit() or number[17] not in "0123456789X":
        return Checked(None, "bad_character")
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return Checked(None, "bad_birth_date")
    if resident_id_check_char(number[:17]) != number[17]:
        return Checked(None, "bad_check_character")
    return Checked(number)


def check_phone(raw: str) -> Checked:
    digits = _SEPARATORS.sub("", _fold(raw))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    if not digits:
        return Checked(None, "empty")
    if not _PHONE.fullmatch(digits):
        return Checked(None, "bad_phone")
    return Checked(digits)


def check_opaque(raw: str) -> Checked:
    value = _fold(raw)
    if not value:
        return Checked(None, "empty")
    if len(value) > MAX_OPAQUE_CHARS:
        return Checked(None, "too_long")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        return Checked(None, "bad_character")
    return Checked(value)


_CHECKERS = {
    IdentifierKind.CREDIT_CODE: check_credit_code,
    IdentifierKind.RESIDENT_ID: check_resident_id,
    IdentifierKind.PHONE: check_phone,
    IdentifierKind.OPAQUE: check_opaque,
}


def check(kind: IdentifierKind, raw: str) -> Checked:
    """Normalize ``raw`` as an identifier of ``kind``; the same rules before every match."""
    return _CHECKERS[kind](raw)
