"""Turns values as printed ("1.234,56 €", "31.01.2024", "de 123 456 789") into canonical ones.

Every function takes what a model, a CSV or a person may write and returns the canonical value,
or raises :class:`NormalizationError` saying why it cannot. The invoice model calls them and turns
a failure into ``None`` plus a finding, so nothing here ever reaches the caller as an exception.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Literal

from invoiceai.schema.codes import (
    AMBIGUOUS_CURRENCY_SYMBOLS,
    COUNTRY_ALIASES,
    COUNTRY_CODES,
    CURRENCY_ALIASES,
    CURRENCY_MINOR_UNITS,
    DOCUMENT_TYPE_NAMES,
    MONTH_NUMBERS,
)

__all__ = [
    "AmbiguousValueError",
    "DateOrder",
    "NormalizationError",
    "normalize_bic",
    "normalize_country",
    "normalize_currency",
    "normalize_document_type",
    "normalize_iban",
    "normalize_vat_id",
    "parse_date",
    "parse_decimal",
]

DateOrder = Literal["DMY", "MDY", "YMD"]


class NormalizationError(ValueError):
    """A value cannot be turned into its canonical form."""


class AmbiguousValueError(NormalizationError):
    """A value has several readings (``$``, ``01/02/2024``) and nothing said which one.

    Args:
        message: Why it is ambiguous.
        candidates: The possible readings.
    """

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


# --- numbers ---------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
# Spaces of every width, apostrophes and the Swiss/Indian grouping marks.
_GROUPING_NOISE = re.compile(r"[\s\u00a0\u2009\u202f'’`´]")
_WHOLE_AMOUNT_DASH = re.compile(r"(\d)[.,][-–]{1,2}(?!\d)")
# A number may start with its decimal separator (".99", "€,50"), unless a letter precedes it:
# the dot of "Rs.500" ends the currency marker.
_DIGITS_AND_SEPARATORS = re.compile(r"(?:(?<![^\W\d_])[.,])?\d[\d.,]*")
# No amount, quantity or rate has digits this far from the decimal point. Refusing them keeps
# "1e999999999" (13 characters) from becoming a billion digits when it is printed or written.
_MAX_DIGITS = 60


def parse_decimal(value: object) -> Decimal:
    """Parses an amount or quantity written in any common locale.

    Accepts ``Decimal``, ``int``, ``float`` (through its shortest repr, so 0.1 stays 0.1) and
    strings such as ``"1.234,56"``, ``"1,234.56"``, ``"1 234,56 €"``, ``"CHF 1'234.50"``,
    ``"(12.00)"`` and ``"12.00-"`` (both negative). When a single separator is followed by exactly
    three digits (``"1,234"``), it is read as a thousands separator, as on price lists. A plain
    ``"1.234"`` is 1.234: ``.`` is the canonical decimal point, and the one Claude is asked to write.

    Args:
        value: The value to parse.

    Returns:
        The exact decimal value, with the digits that were written.

    Raises:
        NormalizationError: The value is empty, not finite, not a number, or has digits more
            than 60 places from the decimal point (``1e999999999``), which no amount has.
    """
    return _bounded(_parse_decimal(value))


def _parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise NormalizationError(f"{value!r} is a boolean, not a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NormalizationError(f"{value} is not a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise NormalizationError(f"{value} is not a finite number")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise NormalizationError(f"expected a number, got {type(value).__name__}")
    text = value.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        try:
            return Decimal(text)
        except ArithmeticError as exc:  # an exponent beyond what Decimal can represent
            raise NormalizationError(f"{_preview(value)} is out of range") from exc
    return _parse_localized(text, original=value)


def _bounded(number: Decimal) -> Decimal:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked by every path above
    if number.adjusted() > _MAX_DIGITS or exponent < -_MAX_DIGITS:
        raise NormalizationError(
            f"{number:.6E} has digits more than {_MAX_DIGITS} places from the decimal point; no amount does"
        )
    return number


def _preview(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def _parse_localized(text: str, *, original: str) -> Decimal:
    text = _GROUPING_NOISE.sub("", text)
    # "12,-" and "12,--" are German shorthand for whole amounts, not negatives.
    text = _WHOLE_AMOUNT_DASH.sub(r"\1", text)
    numbers = _DIGITS_AND_SEPARATORS.findall(text)
    if len(numbers) != 1:
        raise NormalizationError(f"{original!r} is not a number")
    number = numbers[0]
    rest = text.replace(number, " ", 1)
    negative = any(sign in rest for sign in "-−–") or (text.startswith("(") and text.endswith(")"))
    # What is left may only be a sign, brackets and a short currency marker ("€", "EUR", "Rs.").
    marker = _key(rest.strip().strip("()+-−–").strip())
    if len(marker) > 4 and marker not in CURRENCY_ALIASES:
        raise NormalizationError(f"{original!r} is not a number")
    canonical = _canonical_digits(number.rstrip(".,"), original=original)
    try:
        result = Decimal(canonical)
    except InvalidOperation as exc:
        raise NormalizationError(f"{original!r} is not a number") from exc
    return -result if negative else result


def _canonical_digits(number: str, *, original: str) -> str:
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        decimal_sep = "." if number.rfind(".") > number.rfind(",") else ","
        group_sep = "," if decimal_sep == "." else "."
        integer, _, fraction = number.rpartition(decimal_sep)
        if number.count(decimal_sep) != 1 or not _valid_grouping(integer, group_sep):
            raise NormalizationError(f"{original!r} mixes separators in a way no locale writes")
        return integer.replace(group_sep, "") + "." + fraction
    sep = "." if dots else ","
    count = dots or commas
    if count == 0:
        return number
    if count > 1:
        if not _valid_grouping(number, sep):
            raise NormalizationError(f"{original!r} has separators in impossible places")
        return number.replace(sep, "")
    integer, _, fraction = number.partition(sep)
    if len(fraction) == 3 and integer and integer != "0" and len(integer) <= 3 and not integer.startswith("0"):
        return integer + fraction  # "1,234" (or "1.234" in a localized string like "€1.234"): thousands
    return (integer or "0") + "." + fraction


def _valid_grouping(integer: str, sep: str) -> bool:
    groups = integer.split(sep)
    if len(groups) == 1:
        return True
    if not groups[0] or len(groups[0]) > 3 or len(groups[-1]) != 3:
        return False
    # Indian grouping (1,23,45,678) has two-digit middle groups.
    return all(len(group) in (2, 3) for group in groups[1:-1])


# --- dates -----------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# An ISO date with a time ("2024-12-31 00:00:00", "...T10:00+01:00") or an xs:date zone ("Z", "+01:00").
_ISO_STAMP = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})(?:[T ]\d{1,2}:\d{2}.*|Z|[+-]\d{2}:\d{2})")
# A time after any other date: "31.12.2024 10:00", "12/31/2024 10:00 AM".
_TRAILING_TIME = re.compile(r"\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp]\.?[Mm]\.?)?$")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_NUMERIC_DATE = re.compile(r"(\d{1,4})\s*([./\-])\s*(\d{1,2})\s*\2\s*(\d{1,4})\.?")
_WORD_DATE = re.compile(r"[^\W\d_]+\.?")


def parse_date(value: object, *, order: DateOrder | None = None) -> dt.date:
    """Parses an invoice date written in ISO, European, US or worded form.

    A time or time zone after the date (``2024-12-31 10:00``, ``2024-12-31T10:00+01:00``,
    ``2024-12-31Z``) is ignored: the date is taken as written.
    ``31.01.2024`` is always day-first (as written in Germany, Austria and much of Europe).
    For ``/`` and ``-`` dates the order follows ``order`` when given; otherwise it is inferred
    when one part is above 12, and refused as ambiguous when both readings are valid.

    Args:
        value: A ``date``, ``datetime`` or string.
        order: The date order of the document, when known.

    Returns:
        The date.

    Raises:
        AmbiguousValueError: ``01/02/2024`` with no ``order``.
        NormalizationError: Not a date.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise NormalizationError(f"expected a date, got {type(value).__name__}")
    text = value.strip()
    if "T" in text[10:11]:
        text = text[:10]
    elif match := _ISO_STAMP.fullmatch(text):
        text = match[1]
    else:
        text = _TRAILING_TIME.sub("", text)
    try:
        if match := _ISO_DATE.fullmatch(text):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match := _COMPACT_DATE.fullmatch(text):
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        if match := _NUMERIC_DATE.fullmatch(text):
            return _numeric_date(match[1], match[2], match[3], match[4], order, original=value)
        return _worded_date(text, original=value)
    except ValueError as exc:
        if isinstance(exc, NormalizationError):
            raise
        raise NormalizationError(f"{value!r} is not a valid date: {exc}") from exc


def _numeric_date(a: str, sep: str, b: str, c: str, order: DateOrder | None, *, original: str) -> dt.date:
    if len(a) == 4:
        return dt.date(int(a), int(b), int(c))
    if order == "YMD":
        return dt.date(_full_year(a), int(b), int(c))
    year = _full_year(c)
    first, second = int(a), int(b)
    if sep == "." or order == "DMY":
        return dt.date(year, second, first)
    if order == "MDY":
        return dt.date(year, first, second)
    if first > 12 >= second:
        return dt.date(year, second, first)
    if second > 12 >= first:
        return dt.date(year, first, second)
    if first == second:
        return dt.date(year, first, second)
    raise AmbiguousValueError(
        f"{original!r} reads as day-month or month-day; pass the date order or write it as ISO (YYYY-MM-DD)",
        ("DMY", "MDY"),
    )


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        return 2000 + year if year < 70 else 1900 + year
    if len(text) != 4:
        raise NormalizationError(f"{text!r} is not a year")
    return year


def _worded_date(text: str, *, original: str) -> dt.date:
    words = [w.lower().rstrip(".") for w in _WORD_DATE.findall(text)]
    months = [MONTH_NUMBERS[w] for w in words if w in MONTH_NUMBERS]
    numbers = re.findall(r"\d+", text)
    if len(months) != 1 or len(numbers) != 2:
        raise NormalizationError(f"{original!r} is not a date")
    month = months[0]
    if len(numbers[0]) == 4:
        year, day = int(numbers[0]), int(numbers[1])
    else:
        day, year = int(numbers[0]), _full_year(numbers[1])
    return dt.date(year, month, day)


# --- codes -----------------------------------------------------------------------------------


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


def normalize_currency(value: object, *, hint: str | None = None) -> str:
    """Maps a currency code, symbol or name to its ISO 4217 code.

    Three-letter codes are upper-cased and kept even when not in our table (validation flags
    unknown ones), so a new ISO code is never thrown away.

    Args:
        value: ``"EUR"``, ``"€"``, ``"euro"``, ``"US$"``...
        hint: The code an ambiguous symbol (``$``, ``kr``, ``¥``) stands for, when known.

    Returns:
        The ISO 4217 code.

    Raises:
        AmbiguousValueError: An ambiguous symbol and no usable hint.
        NormalizationError: Not a currency.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected a currency code, got {type(value).__name__}")
    text = value.strip()
    key = _key(text)
    # Names first: "Yen", "RMB" and "SFr" have three letters but are not ISO codes.
    if key in CURRENCY_ALIASES:
        return CURRENCY_ALIASES[key]
    if len(text) == 3 and text.isascii() and text.isalpha():
        return text.upper()
    if key in AMBIGUOUS_CURRENCY_SYMBOLS:
        candidates = AMBIGUOUS_CURRENCY_SYMBOLS[key]
        if hint is not None and hint.upper() in candidates:
            return hint.upper()
        raise AmbiguousValueError(
            f"{value!r} may mean any of {', '.join(candidates)}; give the ISO 4217 code", candidates
        )
    raise NormalizationError(f"{value!r} is not a currency code, symbol or name we know")


def is_known_currency(code: str) -> bool:
    """Tells whether ``code`` is an active ISO 4217 currency code."""
    return code in CURRENCY_MINOR_UNITS


def normalize_country(value: object) -> str:
    """Maps a country code or common name to ISO 3166-1 alpha-2.

    Args:
        value: ``"de"``, ``"DEU"``, ``"Deutschland"``, ``"United Kingdom"``, ``"UK"``...

    Returns:
        The alpha-2 code.

    Raises:
        NormalizationError: Not a country we can name.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected a country code, got {type(value).__name__}")
    key = _key(value)
    if len(key) == 2 and key.upper() in COUNTRY_CODES:
        return key.upper()
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    raise NormalizationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code or a country name we know")


_SPACES = re.compile(r"\s+")


def normalize_iban(value: object) -> str:
    """Strips spaces from an IBAN and upper-cases it (the checksum is checked by validation).

    Args:
        value: ``"de89 3704 0044 0532 0130 00"``.

    Returns:
        ``"DE89370400440532013000"``.

    Raises:
        NormalizationError: Not shaped like an IBAN at all.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected an IBAN, got {type(value).__name__}")
    text = _SPACES.sub("", value).replace("-", "").upper()
    if text.startswith("IBAN:"):
        text = text[5:]
    elif text.startswith("IBAN"):
        text = text[4:]
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{1,30}", text):
        raise NormalizationError(f"{value!r} is not shaped like an IBAN (two letters, two digits, up to 30 more)")
    return text


def normalize_vat_id(value: object) -> str:
    """Strips spaces, dots and dashes from a VAT id and upper-cases it.

    Args:
        value: ``"de 123 456 789"`` or ``"CHE-123.456.789 MWST"``.

    Returns:
        ``"DE123456789"`` or ``"CHE123456789MWST"``.

    Raises:
        NormalizationError: Empty after cleaning.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected a VAT id, got {type(value).__name__}")
    text = re.sub(r"[\s.\-]", "", value).upper()
    if not text or not text.isalnum():
        raise NormalizationError(f"{value!r} is not a VAT identifier")
    return text


def normalize_bic(value: object) -> str:
    """Strips spaces from a BIC and upper-cases it.

    Raises:
        NormalizationError: Not 8 or 11 characters shaped like a BIC.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected a BIC, got {type(value).__name__}")
    text = _SPACES.sub("", value).upper()
    if not re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", text):
        raise NormalizationError(f"{value!r} is not a BIC (8 or 11 letters and digits)")
    return text


def normalize_document_type(value: object) -> str:
    """Maps a document title or UNTDID 1001 code to one of the five document types.

    The types are ``invoice``, ``credit_note``, ``receipt``, ``proforma`` and ``other``.

    Raises:
        NormalizationError: A title we cannot classify.
    """
    if not isinstance(value, str):
        raise NormalizationError(f"expected a document type, got {type(value).__name__}")
    key = _key(value).replace("-", " ") if _key(value) not in DOCUMENT_TYPE_NAMES else _key(value)
    if key in DOCUMENT_TYPE_NAMES:
        return DOCUMENT_TYPE_NAMES[key]
    raise NormalizationError(
        f"{value!r} is not one of invoice, credit_note, receipt, proforma, other (or a title we know)"
    )
