"""Phone number normalization to E.164."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_store.phones import normalize

SAME_NUMBER = [
    "+1 (555) 123-4567",
    "5551234567",
    "+15551234567",
    "1-555-123-4567",
    "15551234567",
    "555.123.4567",
    "(555) 123-4567",
    "555-123-4567",
    " 555 123 4567 ",
    "+1.555.123.4567",
    "1 (555) 123 4567",
]


@pytest.mark.parametrize("raw", SAME_NUMBER)
def test_every_us_format_normalizes_to_the_same_e164(raw):
    assert normalize(raw) == "+15551234567"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+33 1 42 68 53 00", "US", "+33142685300"),
        ("(212) 555-0199", "US", "+12125550199"),
        ("415.201.3344", "US", "+14152013344"),
    ],
)
def test_numbers_of_other_countries_and_regions_normalize(raw, region, expected):
    assert normalize(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "<unknown>",
        "anonymous",
        "Anonymous",
        "unknown",
        "restricted",
        "abc",
        "1001",  # an agent extension
        "5551234",  # seven digits: area code unknown
        "555123456789012",  # too long
        "+",
        "++15551234567x" * 10,  # absurdly long
    ],
)
def test_what_is_not_a_full_phone_number_gives_none(raw):
    assert normalize(raw) is None


def test_non_string_input_gives_none():
    assert normalize(None) is None  # type: ignore[arg-type]


def test_repeated_lookups_are_served_from_the_cache():
    normalize.cache_clear()
    for _ in range(5):
        normalize("+1 (555) 987-6543")
    info = normalize.cache_info()
    assert info.misses == 1
    assert info.hits == 4


@given(st.text(max_size=40))
def test_normalize_never_raises_and_its_result_is_stable(raw):
    result = normalize(raw)
    if result is not None:
        assert result.startswith("+")
        assert result[1:].isdigit()
        assert normalize(result) == result
