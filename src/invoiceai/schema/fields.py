"""Annotated field types of the invoice model: meaning, normalisation and the schema Claude sees.

Each type carries a :class:`Normalizer` marker. Inside an :class:`~invoiceai.Invoice` the marker
is applied by :mod:`invoiceai.schema.tree`, which knows the full field path and turns a value
that cannot be normalised into ``None`` plus a finding. The same function also runs as a plain
``BeforeValidator``, so a ``LineItem`` built on its own is normalised too (without findings).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from pydantic.fields import FieldInfo

from invoiceai.schema.normalize import (
    DateOrder,
    NormalizationError,
    normalize_bic,
    normalize_country,
    normalize_currency,
    normalize_document_type,
    normalize_iban,
    normalize_vat_id,
    parse_date,
    parse_decimal,
)

__all__ = [
    "BIC",
    "IBAN",
    "NOT_ASKED",
    "NOT_ASKED_KEY",
    "NULL_PARTS",
    "NULL_PARTS_KEY",
    "PLACEHOLDERS",
    "CountryCode",
    "CurrencyCode",
    "DocumentType",
    "DocumentTypeName",
    "Hints",
    "IsoDate",
    "Money",
    "Normalizer",
    "Percent",
    "Quantity",
    "Text",
    "VatId",
    "asked_scalars",
    "normalizer_of",
    "placeholder_of",
]

NOT_ASKED_KEY = "x-not-asked"
NOT_ASKED: dict[str, Any] = {NOT_ASKED_KEY: True}
"""``json_schema_extra`` of a field left out of the schema Claude fills.

For values a printed invoice practically never shows (scheme identifiers, code-list codes, line
numbers): they are read from and written to e-invoices, but asking for them would cost every
reply a ``null`` per field, per line. Subclass the model and redeclare a field without it to
have Claude fill it.
"""

NULL_PARTS_KEY = "x-null-parts"
NULL_PARTS: dict[str, Any] = {NULL_PARTS_KEY: True}
"""Root ``json_schema_extra`` of a model whose normalisation turns a ``null`` nested part into
an empty one, so the schema Claude fills may allow ``null`` for such parts."""

PLACEHOLDERS = frozenset({"n/a", "na", "none", "null", "-", "--", "—", "–", "/"})
"""Text that stands for "no value" on a form (compared stripped and lower-cased): read as ``None``."""

_EMPTY_MARKERS = PLACEHOLDERS | {""}


def placeholder_of(value: Any) -> str | None:
    """The placeholder ``value`` is (``"n/a"``, ``"--"``, ...), as written and stripped; ``None`` otherwise.

    An empty or blank string is not a placeholder: it is simply empty.
    """
    if isinstance(value, str) and value.strip().lower() in PLACEHOLDERS:
        return value.strip()
    return None


@dataclasses.dataclass(frozen=True)
class Hints:
    """What is known about a document that resolves ambiguous values.

    Attributes:
        currency: ISO 4217 code that an ambiguous symbol (``$``, ``kr``) stands for.
        date_order: How numeric dates are written in this document.
    """

    currency: str | None = None
    date_order: DateOrder | None = None


@dataclasses.dataclass(frozen=True)
class Normalizer:
    """Marker in a field's metadata naming the function that normalises its raw values.

    Attributes:
        kind: What the value is, for messages ("an amount", "a date", ...).
        function: Takes the raw value and the hints; returns the canonical value or raises
            :class:`~invoiceai.schema.normalize.NormalizationError`.
    """

    kind: str
    function: Callable[[Any, Hints], Any]

    def __call__(self, value: Any, hints: Hints = Hints()) -> Any:
        """Normalises ``value``; empty markers ("", "n/a", "-") become ``None`` without complaint."""
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in _EMPTY_MARKERS:
            return None
        return self.function(value, hints)


def normalizer_of(metadata: list[Any]) -> Normalizer | None:
    """Returns the :class:`Normalizer` in a field's metadata, if any."""
    return next((item for item in metadata if isinstance(item, Normalizer)), None)


def asked_scalars(model: BaseModel, prefix: str = "", *, lists: bool = True) -> Iterator[tuple[str, FieldInfo, Any]]:
    """Yields ``(path, field info, value)`` for every scalar field the model is asked for, set or not.

    Nested parts are walked (``seller.name``), and with ``lists`` the parts in list fields too
    (``line_items[2].amount``); fields marked :data:`NOT_ASKED` (filled only from an e-invoice's
    XML) are left out. Provenance and evaluation walk an invoice the same way through this.
    """
    for name, info in type(model).model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(NOT_ASKED_KEY):
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from asked_scalars(value, f"{prefix}{name}.", lists=lists)
        elif isinstance(value, list):
            if lists:
                for position, item in enumerate(value):
                    if isinstance(item, BaseModel):
                        yield from asked_scalars(item, f"{prefix}{name}[{position}].", lists=True)
        else:
            yield f"{prefix}{name}", info, value


def _lenient(normalizer: Normalizer) -> BeforeValidator:
    def validate(value: Any) -> Any:
        try:
            return normalizer(value)
        except (ValueError, ArithmeticError):  # NormalizationError, and Python's own limits
            return None

    return BeforeValidator(validate)


def _nullable(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}]})


def _text(value: Any, _: Hints) -> str:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise NormalizationError(f"expected text, got {type(value).__name__}")
    return " ".join(value.split()) if "\n" not in value else value.strip()


def _decimal(value: Any, _: Hints) -> Decimal:
    return parse_decimal(value)


def _percent(value: Any, _: Hints) -> Decimal:
    if isinstance(value, str):
        value = value.strip().removesuffix("%").strip()
    return parse_decimal(value)


def _date(value: Any, hints: Hints) -> dt.date:
    return parse_date(value, order=hints.date_order)


def _currency(value: Any, hints: Hints) -> str:
    return normalize_currency(value, hint=hints.currency)


_TEXT = Normalizer("text", _text)
_MONEY = Normalizer("an amount", _decimal)
_QUANTITY = Normalizer("a quantity", _decimal)
_PERCENT = Normalizer("a percentage", _percent)
_DATE = Normalizer("a date", _date)
_CURRENCY = Normalizer("a currency code", _currency)
_COUNTRY = Normalizer("a country code", lambda value, _: normalize_country(value))
_IBAN = Normalizer("an IBAN", lambda value, _: normalize_iban(value))
_BIC = Normalizer("a BIC", lambda value, _: normalize_bic(value))
_VAT_ID = Normalizer("a VAT id", lambda value, _: normalize_vat_id(value))
_DOCUMENT_TYPE = Normalizer("a document type", lambda value, _: normalize_document_type(value))

# One description on the invoice says how numbers are written; repeating it per field would
# cost tokens on every request.
_DECIMAL_SCHEMA = {"type": "string"}

Text = Annotated[str | None, _TEXT, _lenient(_TEXT), _nullable({"type": "string"})]
"""Free text; whitespace runs are collapsed on single-line values."""

Money = Annotated[Decimal | None, _MONEY, _lenient(_MONEY), _nullable(_DECIMAL_SCHEMA)]
"""An exact amount. Claude writes it as a string, so no digit is lost to binary floats."""

Quantity = Annotated[Decimal | None, _QUANTITY, _lenient(_QUANTITY), _nullable(_DECIMAL_SCHEMA)]
"""An exact quantity."""

Percent = Annotated[
    Decimal | None,
    _PERCENT,
    _lenient(_PERCENT),
    _nullable({"type": "string"}),
]
"""A percentage (19 means 19 %)."""

IsoDate = Annotated[dt.date | None, _DATE, _lenient(_DATE), _nullable({"type": "string", "format": "date"})]
"""A calendar date, written YYYY-MM-DD."""

CurrencyCode = Annotated[
    str | None,
    _CURRENCY,
    _lenient(_CURRENCY),
    _nullable({"type": "string", "description": "ISO 4217 code, e.g. 'EUR', 'USD', 'GBP'."}),
]
"""An ISO 4217 currency code."""

CountryCode = Annotated[
    str | None,
    _COUNTRY,
    _lenient(_COUNTRY),
    _nullable({"type": "string", "description": "ISO 3166-1 alpha-2 code, e.g. 'DE', 'FR', 'US'."}),
]
"""An ISO 3166-1 alpha-2 country code."""

IBAN = Annotated[str | None, _IBAN, _lenient(_IBAN), _nullable({"type": "string"})]
"""An IBAN without spaces, upper-case."""

BIC = Annotated[str | None, _BIC, _lenient(_BIC), _nullable({"type": "string"})]
"""A BIC (SWIFT code) without spaces, upper-case."""

VatId = Annotated[str | None, _VAT_ID, _lenient(_VAT_ID), _nullable({"type": "string"})]
"""A VAT identifier without spaces, dots or dashes, upper-case."""

DocumentTypeName = Literal["invoice", "credit_note", "receipt", "proforma", "other"]

DocumentType = Annotated[
    DocumentTypeName | None,
    _DOCUMENT_TYPE,
    _lenient(_DOCUMENT_TYPE),
    _nullable({"type": "string", "enum": ["invoice", "credit_note", "receipt", "proforma", "other"]}),
]
"""One of ``invoice``, ``credit_note``, ``receipt``, ``proforma``, ``other``."""
