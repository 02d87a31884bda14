"""Phone numbers: turn whatever a caller ID or a person typed into E.164."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = ["normalize"]

# Longer than any real number with punctuation; parsing longer strings is wasted work.
_MAX_LENGTH = 64


@lru_cache(maxsize=65_536)
def normalize(raw: str, region: str = "US") -> str | None:
    """Return ``raw`` as an E.164 string (``+15551234567``), or None when it is not a
    phone number (empty, ``anonymous``, ``<unknown>``, an extension, garbage).

    Numbers are accepted when their length is possible for their country, not only
    when they are assigned: the fictional 555 range must work.  Numbers that are
    only possible locally (a 7-digit US number) are refused, since their area code is
    unknown.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > _MAX_LENGTH:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
