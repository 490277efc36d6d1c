"""Every printed form of a value, and the normalisation pages and values share before matching.

Two families of keys: *numeric* keys keep digits, letters and the punctuation that changes what a
number means (``.``, ``,``, ``-``, ``/``, ``:``), and drop spaces, apostrophes, currency signs
and ``%``, so ``1 234,56 €``, ``1'234.56`` and ``$1,234.56`` all reduce to forms listed by
:func:`money_forms`. *Alphanumeric* keys keep letters and digits only, case-folded, so IBANs
with spaces, VAT ids with dots and names split over lines compare equal.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import Literal

__all__ = [
    "KEY_LOOKALIKES",
    "DateOrder",
    "Family",
    "Kind",
    "alnum_key",
    "date_forms",
    "family_of",
    "fold_key",
    "fold_number_word",
    "money_forms",
    "number_forms",
    "numeric_key",
]

DateOrder = Literal["dmy", "mdy"]
"""Day first (``05/03/2024`` is 5 March) or month first (US: 3 May)."""

Kind = Literal["money", "quantity", "percent", "date", "id", "unit", "text", "skip"]
"""How a field's value is printed and matched; ``skip``: codes and summaries, never matched."""

Family = Literal["numeric", "alnum"]

_NUMERIC_PUNCTUATION = frozenset(".,-/:()")
_DROPPED = frozenset("'’`´%€$£¥₹₽₩₺¢\u00a0\u202f\u2009")
_MINUS = frozenset("\u2212\u2012\u2013\ufe63\uff0d")  # minus signs and dashes printed as one

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "januar", "jänner", "janvier", "janv", "januari", "enero", "gennaio", "ene"),
    2: ("february", "feb", "februar", "février", "fevrier", "févr", "fevr", "februari", "febrero", "febbraio"),
    3: ("march", "mar", "märz", "maerz", "mrz", "mars", "maart", "marzo", "mär"),
    4: ("april", "apr", "avril", "avr", "abril", "aprile"),
    5: ("may", "mai", "mei", "mayo", "maggio", "mag"),
    6: ("june", "jun", "juni", "juin", "junio", "giugno", "giu"),
    7: ("july", "jul", "juli", "juillet", "juil", "julio", "luglio", "lug"),
    8: ("august", "aug", "août", "aout", "augustus", "agosto", "ago"),
    9: ("september", "sep", "sept", "septembre", "septiembre", "settembre", "set"),
    10: ("october", "oct", "oktober", "okt", "octobre", "octubre", "ottobre", "ott"),
    11: ("november", "nov", "novembre", "noviembre"),
    12: ("december", "dec", "dezember", "dez", "décembre", "decembre", "déc", "diciembre", "dicembre", "dic"),
}


def family_of(kind: Kind) -> Family:
    """Which key family a kind is matched in."""
    return "numeric" if kind in ("money", "quantity", "percent", "date") else "alnum"


def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold()


def numeric_key(text: str) -> str:
    """``text`` reduced for number and date matching (see the module docstring)."""
    kept = []
    for char in text:
        if char.isspace() or char in _DROPPED:
            continue
        if char in _MINUS:
            kept.append("-")
        elif char.isalnum() or char in _NUMERIC_PUNCTUATION:
            kept.append(_fold(char))
    return "".join(kept)


def alnum_key(text: str) -> str:
    """``text`` reduced to case-folded letters and digits."""
    return "".join(_fold(char) for char in text if char.isalnum())


def _grouped(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[index : index + 3] for index in range(head, len(digits), 3)]
    return separator.join(groups)


def number_forms(value: Decimal, *, min_decimals: int = 0, extra_decimals: int = 2) -> set[str]:
    """Printed forms of ``abs(value)`` as numeric keys, with either decimal mark and any grouping.

    Args:
        value: The number.
        min_decimals: Fewest decimals a form shows (``2`` for money).
        extra_decimals: Forms with up to this many more decimals (zeros) are listed too
            (``49.9900`` for ``49.99``).
    """
    value = abs(value)
    exponent = value.as_tuple().exponent
    decimals = max(-exponent if isinstance(exponent, int) else 0, 0)
    normal = value.normalize()
    normal_exponent = normal.as_tuple().exponent
    shortest = max(-normal_exponent if isinstance(normal_exponent, int) else 0, 0)
    forms: set[str] = set()
    for places in range(max(shortest, min_decimals), max(decimals, min_decimals, shortest) + extra_decimals + 1):
        if min_decimals and places == 3 and shortest < 3:
            continue  # "10,000" and "10.000" read as ten thousand far more often than as 10.00
        text = f"{value:.{places}f}"
        whole, _, fraction = text.partition(".")
        for decimal_mark, groupings in ((".", ("", ",")), (",", ("", "."))):
            for grouping in groupings:
                number = _grouped(whole, grouping) if grouping else whole
                forms.add(f"{number}{decimal_mark}{fraction}" if fraction else number)
                if fraction and set(fraction) == {"0"}:
                    forms.add(f"{number}{decimal_mark}-")
    return forms


def money_forms(value: Decimal, *, whole: bool = False) -> set[str]:
    """Printed forms of an amount, without its sign (the matcher reads the sign around a form).

    Two decimals at least (``12,50``, ``12.5000``), or ``12,-`` for whole amounts: a bare ``12``
    is a quantity, a page number or part of a date far more often than an amount.

    Args:
        value: The amount.
        whole: Also list the bare integer of a whole amount (for pages that print amounts
            without decimals, as yen or forint invoices do).
    """
    forms = number_forms(value, min_decimals=2)
    if whole and value == value.to_integral_value():
        forms |= {form for form in number_forms(value.to_integral_value(), extra_decimals=0) if form[-1].isdigit()}
    return forms


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def date_forms(value: dt.date, *, orders: tuple[DateOrder, ...] = ("dmy", "mdy")) -> set[str]:
    """Printed forms of a date as numeric keys: numeric orders, two-digit years, month names.

    ``|`` in a form stands for a gap between two words of digits (``March 12 2024``); the
    matcher's streams put it there (:mod:`invoiceai.provenance.match`).

    Args:
        value: The date.
        orders: Which orders of day and month to list for dates written with ``/`` or ``-``
            (``12/03/2024``); with ``.`` a date is always day first (``12.03.2024``).
    """
    day, month, year = value.day, value.month, value.year
    short = f"{year % 100:02d}"
    forms: set[str] = {value.isoformat(), f"{year}{month:02d}{day:02d}", f"{year}/{month:02d}/{day:02d}",
                       f"{year}.{month:02d}.{day:02d}"}  # fmt: skip
    for d in {f"{day}", f"{day:02d}"}:
        for m in {f"{month}", f"{month:02d}"}:
            for y in (str(year), short):
                forms.add(f"{d}.{m}.{y}")
                for separator in ("/", "-"):
                    if "dmy" in orders:
                        forms.add(f"{d}{separator}{m}{separator}{y}")
                    if "mdy" in orders:
                        forms.add(f"{m}{separator}{d}{separator}{y}")  # US
        forms.update(_named_forms(d, _ordinal(day), month, year))
    return forms


def _named_forms(d: str, suffix: str, month: int, year: int) -> set[str]:
    forms: set[str] = set()
    for name in _MONTHS[month]:
        for y in (str(year), f"{year % 100:02d}"):
            forms.update(
                {
                    f"{d}{name}{y}",  # 12 March 2024
                    f"{d}{suffix}{name}{y}",  # 5th March 2024
                    f"{d}.{name}{y}",  # 12. März 2024
                    f"{d}-{name}-{y}",  # 12-Mar-2024
                    f"{d}{name}.{y}",  # 12 mars. 2024
                    f"{d}.{name}.{y}",  # 12. Jan. 2024
                    f"{name}{d},{y}",  # March 12, 2024
                    f"{name}{d}{suffix},{y}",  # Mar 5th, 2024
                    f"{name}.{d},{y}",  # Mar. 12, 2024
                    f"{name}{d}|{y}",  # March 12 2024
                    f"{name}{d}{suffix}|{y}",  # March 5th 2024
                    f"{name}-{d}-{y}",  # Mar-05-2024
                }
            )
    return forms


# -- OCR pages: what Tesseract reads in place of a digit ----------------------------------------------

_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "S": "5", "B": "8", "Z": "2"})
"""What Tesseract reads in place of a digit on a poor scan (and ``;`` for a decimal comma)."""
_LOOKALIKE_LETTERS = "OoDlISBZ"
KEY_LOOKALIKES = str.maketrans({"o": "0", "l": "1", "i": "1", "s": "5", "b": "8", "z": "2"})
"""The same on case-folded letter-and-digit keys (ids and names), applied to the page and the value alike."""


_LETTER_RUN = re.compile(r"[^\W\d_]+")
_COLON_CENTS = re.compile(r"(?<![\d.,:])(\d+):(\d{2})$")


def _colon_cents(found: re.Match[str]) -> str:
    """``37:62`` is an amount whose comma was read as a colon; ``10:30`` may be a time and stays one."""
    return f"{found[1]},{found[2]}" if int(found[1]) > 23 or int(found[2]) > 59 else found[0]


def fold_number_word(word: str) -> str:
    """``word`` with the digit look-alikes of an OCR page read as digits, in numbers (same length).

    Only within a word that has a digit already (``S,00``, ``1O,5O``), so ``so`` is never the
    quantity 50, and only runs of letters that are all look-alikes, so the unit of ``10Stk``
    stays a unit. In ids and names every letter is folded instead, on the page's keys and the
    value's alike (:func:`fold_key`).
    """
    if not any(char.isdigit() for char in word):
        return word
    word = _COLON_CENTS.sub(_colon_cents, word.replace(";", ","))
    return _LETTER_RUN.sub(lambda run: run[0].translate(_DIGIT_LOOKALIKES) if run[0].strip(_LOOKALIKE_LETTERS) == ""
                           else run[0], word)  # fmt: skip


def fold_key(form: str, family: Family) -> str:
    """A value's key as it is looked up in an OCR page's folded stream (see :func:`fold_number_word`).

    Ids and names are folded like the page; numbers and dates are not (a value's number has
    digits only, and a month name, ``12oktober2024``, is never a run of look-alikes).
    """
    return form.translate(KEY_LOOKALIKES) if family == "alnum" else form
