from __future__ import annotations

import random

import pytest

from sandbox.identifiers import (
    CREDIT_CODE_ALPHABET,
    MAX_OPAQUE_CHARS,
    IdentifierKind,
    check,
    credit_code_check_char,
    resident_id_check_char,
)

CREDIT = "91350100M000100Y43"  # published example of a valid code
RESIDENT = "11010519491231002X"  # the GB 11643-1999 example number


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def test_known_valid_check_characters() -> None:
    assert credit_code_check_char(CREDIT[:17]) == CREDIT[17]
    assert resident_id_check_char(RESIDENT[:17]) == RESIDENT[17]


def test_credit_check_character_matches_the_standards_weighted_sum() -> None:
    """GB 32100-2015 as written: weights 3**i mod 31, C18 = 31 - (sum mod 31), 31 read as 0.
    Every canonical code with the right (and no other) check character is accepted."""
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    rng = random.Random(32100)
    for _ in range(3000):
        body = "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(2))
        body += "".join(rng.choice("0123456789") for _ in range(6))
        body += "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(9))
        total = sum(CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(body, weights, strict=True))
        expected = CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]
        assert credit_code_check_char(body) == expected
        assert check(IdentifierKind.CREDIT_CODE, body + expected).value == body + expected
        wrong = rng.choice(CREDIT_CODE_ALPHABET.replace(expected, ""))
        assert check(IdentifierKind.CREDIT_CODE, body + wrong).reason == "bad_check_character"


@pytest.mark.parametrize(
    "raw",
    [
        CREDIT,
        CREDIT.lower(),
        f"  {CREDIT}\t",
        _full_width(CREDIT),
        _full_width(CREDIT.lower()),
        "9135 0100 M000 100Y43",
        "91350100-M000100Y43",
        "\u3000" + CREDIT + "\u3000",
    ],
)
def test_credit_code_forms_normalize(raw: str) -> None:
    assert check(IdentifierKind.CREDIT_CODE, raw).value == CREDIT


@pytest.mark.parametrize(
    "raw",
    [RESIDENT, RESIDENT.lower(), _full_width(RESIDENT), "110105 19491231 002X", f" {RESIDENT} "],
)
def test_resident_id_forms_normalize(raw: str) -> None:
    assert check(IdentifierKind.RESIDENT_ID, raw).value == RESIDENT


def _with_check(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (CREDIT[:17], "wrong_length"),
        (CREDIT + "0", "wrong_length"),
        (CREDIT[:16] + "I3", "bad_character"),  # I is not in the alphabet
        (CREDIT[:5] + "S" + CREDIT[6:], "bad_character"),
        (_with_check("91A50100M000100Y4"), "bad_division_code"),
        (CREDIT[:17] + "4", "bad_check_character"),
    ],
)
def test_credit_code_reasons(raw: str, reason: str) -> None:
    result = check(IdentifierKind.CREDIT_CODE, raw)
    assert (result.value, result.reason, result.ok) == (None, reason, False)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (RESIDENT[:17], "wrong_length"),
        (RESIDENT[:16] + "AX", "bad_character"),
        (RESIDENT[:17] + "Y", "bad_character"),
        ("11010519490230" + "002" + resident_id_check_char("11010519490230002"), "bad_birth_date"),
        (RESIDENT[:17] + "1", "bad_check_character"),
    ],
)
def test_resident_id_reasons(raw: str, reason: str) -> None:
    assert check(IdentifierKind.RESIDENT_ID, raw).reason == reason


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "008613812345678",
        "+86 138-1234-5678",
        "１３８１２３４５６７８",
    ],
)
def test_phone_forms_normalize(raw: str) -> None:
    assert check(IdentifierKind.PHONE, raw).value == "13812345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "empty"), ("+86", "empty"), ("12812345678", "bad_phone"), ("1381234567", "bad_phone")],
)
def test_phone_reasons(raw: str, reason: str) -> None:
    assert check(IdentifierKind.PHONE, raw).reason == reason


def test_opaque() -> None:
    assert check(IdentifierKind.OPAQUE, "  ＡＢ-1 ").value == "AB-1"
    assert check(IdentifierKind.OPAQUE, " ").reason == "empty"
    assert check(IdentifierKind.OPAQUE, "x" * (MAX_OPAQUE_CHARS + 1)).reason == "too_long"
    assert check(IdentifierKind.OPAQUE, "a\x07b").reason == "bad_character"


def test_check_char_helpers_refuse_bad_input() -> None:
    with pytest.raises(ValueError):
        credit_code_check_char("91350100M000100Y")
    with pytest.raises(ValueError):
        credit_code_check_char("91350100I000100Y4")
    with pytest.raises(ValueError):
        resident_id_check_char("1101051949123100X")
