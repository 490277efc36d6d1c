"""The invoice currency on its page: its ISO code, or a symbol that stands for it alone.

A currency is printed as its code (``EUR``, ``SEK``) or as a symbol (``€``, ``kr``, ``zł``). A
symbol several currencies share (``$``, ``kr``, ``¥``) and a short one that is also an ordinary
word (``Fr.``) ground a currency only where the seller's or the buyer's country uses it: ``kr``
on a Swedish seller's invoice is SEK, never DKK. Where no country is known, a bare ``$`` is a US
dollar and ``Rs`` an Indian rupee; ``kr``, ``¥`` and ``Fr.`` then ground nothing. A currency
printed neither way is ungrounded: a model that answers DKK for a page printing ``SEK`` and
``kr`` is exactly the error to catch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from invoiceai.provenance.model import Match, PageWords

__all__ = ["currency_matches"]

_TOKEN = re.compile(r"[^\W\d_]*\$|[€£¥₹₩₽₺₪₴₫₱円元]|[^\W\d_]+")
"""A dollar with its prefix (``US$``, ``C$``), a one-character symbol, or a run of letters (``kr``, ``EUR``)."""

_SYMBOLS: dict[str, frozenset[str]] = {
    symbol: frozenset(codes.split())
    for symbol, codes in {
        "€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS", "₴": "UAH",
        "₫": "VND", "₱": "PHP", "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
        "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "R$": "BRL", "MX$": "MXN", "Kč": "CZK", "zł": "PLN",
        "Ft": "HUF", "lei": "RON", "лв": "BGN", "руб": "RUB", "円": "JPY", "元": "CNY",
        # Shared, or an ordinary word too: they count only where the country fits.
        "$": "USD CAD AUD NZD MXN HKD SGD", "kr": "SEK NOK DKK ISK", "¥": "JPY CNY", "Fr": "CHF",
        "rs": "INR PKR LKR NPR", "SFr": "CHF", "CHF": "CHF",
    }.items()
}  # fmt: skip
_SHARED = frozenset({"$", "kr", "¥", "Fr", "Rs"})
_PRIMARY = {"$": "USD", "Rs": "INR"}
"""What a shared symbol means where no country says otherwise: a bare ``$`` is a US dollar."""
_COUNTRY: dict[str, str] = {
    "US": "USD", "CA": "CAD", "AU": "AUD", "NZ": "NZD", "MX": "MXN", "HK": "HKD", "SG": "SGD", "SE": "SEK",
    "NO": "NOK", "DK": "DKK", "IS": "ISK", "JP": "JPY", "CN": "CNY", "CH": "CHF", "LI": "CHF",
}  # fmt: skip


def currency_matches(code: str, layers: Sequence[PageWords], countries: Iterable[str | None]) -> list[Match]:
    """Every word that prints ``code`` or a symbol that stands for it.

    Args:
        code: The ISO 4217 code the model gave (``EUR``).
        layers: The pages' word layers.
        countries: The seller's and the buyer's country codes (``None`` when unknown), for shared symbols.

    Returns:
        One match per word, in reading order.
    """
    local = {_COUNTRY.get(country or "") for country in countries}
    matches: list[Match] = []
    for layer in layers:
        for word in layer.words:
            if any(_stands_for(token, code, local) for token in _TOKEN.findall(word.text)):
                matches.append(Match(layer.page, word.box, word.text))
    return matches


def _stands_for(token: str, code: str, local: set[str | None]) -> bool:
    if token == code:
        return True
    owners = _SYMBOLS.get(token) or _SYMBOLS.get(token.rstrip(".").lower()) or frozenset()
    if code not in owners:
        return False
    if token not in _SHARED and len(owners) == 1:
        return True
    # Where the seller's or buyer's country uses one of the symbol's currencies, it means that one.
    if local & owners:
        return code in local
    return _PRIMARY.get(token.rstrip(".")) == code
