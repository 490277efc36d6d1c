"""Units of measure: UN/ECE Recommendation 20 codes (BT-130) and the words printed for them.

The invoice model keeps a unit as printed ("pcs", "Std.") or, from an e-invoice, as its code
("H87"). The writer needs a code and the cross-check needs to see that "h" and "HUR" agree, so
both go through :func:`unit_code`.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_UNIT_CODE", "unit_code"]

DEFAULT_UNIT_CODE = "C62"
"""Rec 20 "one": the unit written when the invoice names none or one we do not know."""

_CODE = re.compile(r"^[A-Z0-9]{2,3}$")

# fmt: off
_WORDS: dict[str, str] = {
    "pc": "H87", "pcs": "H87", "piece": "H87", "pieces": "H87", "stk": "H87", "stück": "H87", "st": "H87",
    "pce": "H87", "pièce": "H87", "pièces": "H87", "unit": "C62", "units": "C62", "unité": "C62", "x": "C62",
    "ea": "EA", "each": "EA",
    "h": "HUR", "hr": "HUR", "hrs": "HUR", "hour": "HUR", "hours": "HUR", "std": "HUR", "stunde": "HUR",
    "stunden": "HUR", "heure": "HUR", "heures": "HUR",
    "min": "MIN", "minute": "MIN", "minutes": "MIN", "minuten": "MIN",
    "day": "DAY", "days": "DAY", "tag": "DAY", "tage": "DAY", "d": "DAY", "jour": "DAY", "jours": "DAY",
    "week": "WEE", "weeks": "WEE", "woche": "WEE", "wochen": "WEE",
    "month": "MON", "months": "MON", "monat": "MON", "monate": "MON", "mois": "MON",
    "year": "ANN", "years": "ANN", "jahr": "ANN", "jahre": "ANN", "an": "ANN",
    "kg": "KGM", "g": "GRM", "t": "TNE", "ton": "TNE", "tonne": "TNE",
    "l": "LTR", "ltr": "LTR", "liter": "LTR", "litre": "LTR", "ml": "MLT",
    "m": "MTR", "km": "KMT", "cm": "CMT", "mm": "MMT",
    "m2": "MTK", "m²": "MTK", "qm": "MTK", "sqm": "MTK", "m3": "MTQ", "m³": "MTQ", "cbm": "MTQ",
    "kwh": "KWH", "set": "SET", "sets": "SET", "pair": "PR", "pairs": "PR", "paar": "PR",
    "lump sum": "LS", "flat": "LS", "pauschal": "LS", "psch": "LS", "forfait": "LS",
}
# fmt: on

_WORDS_THAT_ARE_CODES = frozenset({"STK", "EA", "MIN", "DAY", "LTR", "KWH", "SET"})
"""Keys of ``_WORDS`` whose upper-case spelling is itself a Rec 20 code."""


def unit_code(unit: str | None) -> str | None:
    """Returns the Rec 20 code for a unit as printed or coded, or ``None`` when it is unknown.

    Args:
        unit: ``"pcs"``, ``"Std."``, ``"HUR"``, ...

    Returns:
        The code (``"H87"``, ``"HUR"``), the input itself when it already looks like a code, or
        ``None``.
    """
    if unit is None:
        return None
    stripped = unit.strip()
    key = stripped.lower().rstrip(".").strip()
    # "PCS", "KG" and "HRS" are printed in capitals but are no Rec 20 codes; a word that is
    # itself a code ("STK" stick, "SET", "EA") is kept as the code.
    if _CODE.match(stripped) and (key not in _WORDS or stripped in _WORDS_THAT_ARE_CODES):
        return stripped
    return _WORDS.get(key)
