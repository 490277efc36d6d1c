"""Grounding: every extracted value matched against the words of its pages, with evidence.

:func:`ground_invoice` walks an :class:`~invoiceai.Invoice` (every set scalar, every list item's
values), looks each value up in every printed form on the pages' words, and returns the
:class:`~invoiceai.provenance.Provenance` and the ``IAI-UNGROUNDED`` findings. Confidence comes
from evidence only: found on the page, named by no validation finding (the arithmetic rules name
their fields), agreeing with an embedded e-invoice where there is one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from invoiceai.provenance.currency import currency_matches
from invoiceai.provenance.derive import derive, mentions_allowances
from invoiceai.provenance.explain import explained
from invoiceai.provenance.forms import (
    DateOrder,
    Kind,
    alnum_key,
    date_forms,
    family_of,
    money_forms,
    number_forms,
)
from invoiceai.provenance.match import MAX_MATCHES, PageIndex, find_chunks, find_forms, find_near, find_signed
from invoiceai.provenance.model import Confidence, FieldProvenance, Grounding, Match, PageWords, Provenance
from invoiceai.provenance.model_pages import ModelPages
from invoiceai.provenance.rows import ROW_VALUES, item_bands
from invoiceai.schema.fields import asked_scalars
from invoiceai.schema.findings import Finding
from invoiceai.schema.invoice import Invoice

__all__ = [
    "UNGROUNDED",
    "Grounded",
    "field_kind",
    "ground_invoice",
    "invoice_values",
    "json_value",
    "named_by",
    "weigh",
]

UNGROUNDED = "IAI-UNGROUNDED"
"""The rule id of a value that is not printed on its page."""
CROSS_CHECK = "IAI-CROSS-CHECK"

_SKIP = frozenset(
    {
        "currency", "tax_currency", "country_code", "document_type", "means_code", "category", "tax_category",
        "identifier_scheme", "legal_registration_scheme", "electronic_address_scheme", "location_scheme",
        "reason_code", "exemption_reason_code", "standard_item_id_scheme", "origin_country", "notes",
    }
)  # fmt: skip
_IDS = frozenset(
    {
        "invoice_number", "number", "purchase_order", "buyer_reference", "project_reference", "contract_reference",
        "sales_order_reference", "despatch_advice_reference", "receiving_advice_reference", "tender_reference",
        "invoiced_object_id", "buyer_accounting_reference", "identifier", "legal_registration_id", "vat_id",
        "tax_id", "electronic_address", "email", "phone", "postal_code", "iban", "bic", "account_number",
        "reference", "card_number", "mandate_reference", "creditor_id", "debited_account", "line_id",
        "seller_item_id", "buyer_item_id", "standard_item_id", "order_line_reference", "accounting_reference",
        "location_id",
    }
)  # fmt: skip
_RECOMMENDATION_20 = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_DEDUCTED = frozenset({"allowance_amount", "allowance_total", "amount_paid"})
"""Amounts printed as deducted (``-5,00``) or not, by habit: either sign grounds them."""
_QUANTITIES = frozenset({"quantity", "price_base_quantity"})
_PERCENTS = frozenset({"rate", "tax_rate", "percentage"})


@dataclasses.dataclass(frozen=True)
class Grounded:
    """What grounding found: the provenance, and one ``IAI-UNGROUNDED`` finding per value not on its page."""

    provenance: Provenance
    findings: tuple[Finding, ...]


def field_kind(name: str, value: Any) -> Kind:
    """How the field ``name`` holding ``value`` is printed (``skip``: codes and summaries)."""
    if name in _SKIP or isinstance(value, bool):
        return "skip"
    if isinstance(value, Decimal):
        return "quantity" if name in _QUANTITIES else "percent" if name in _PERCENTS else "money"
    if isinstance(value, dt.date):
        return "date"
    if name == "unit":
        return "unit"
    return "id" if name in _IDS else "text"


def invoice_values(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yields ``(path, field name, value)`` for every set scalar of ``model``, in field order.

    Fields the model is never asked for (:data:`~invoiceai.schema.fields.NOT_ASKED`: scheme
    codes, line ids, gross prices) are left out: only an e-invoice's XML fills them, and
    they are codes or derived values rather than text printed on the page.
    """
    for path, _, value in asked_scalars(model, prefix):
        if value is not None and value != "":
            yield path, path.rsplit(".", 1)[-1], value


@dataclasses.dataclass
class _Found:
    """One value while it is being grounded."""

    path: str
    value: Any
    kind: Kind
    hint: int | None
    grounding: Grounding
    matches: list[Match]
    note: str | None = None  # a doubt (medium confidence) or why a value on the page is not grounded


@dataclasses.dataclass(frozen=True)
class _Context:
    indexes: list[PageIndex]
    blind: list[int]
    has_pages: bool
    order: DateOrder | None  # the document's usual order of day and month, from its currency or country
    credit_note: bool


def ground_invoice(
    invoice: Invoice,
    layers: Sequence[PageWords],
    findings: Sequence[Finding] = (),
    *,
    page_hints: Mapping[str, int] | None = None,
    embedded: bool = False,
    model_pages: Mapping[str, int] | None = None,
) -> Grounded:
    """Grounds every value of ``invoice`` in the words of its pages.

    Args:
        invoice: The extracted invoice.
        layers: The word layer of every page that was read (kind ``none`` for a page without
            words); empty when there are no pages (an XML e-invoice).
        findings: The validation (and cross-check) findings, used for confidence.
        page_hints: The page of a value by path, when known for certain; such a value is looked
            for on that page only.
        model_pages: The page the model named for each value, by path (a part's path, such as
            ``line_items[3]``, for every value under it; ``""`` for every value). Checked, not
            trusted (:mod:`invoiceai.provenance.model_pages`): a match there is preferred, a
            value printed only on another page is grounded there with confidence one step
            lower, and a value on no page with words gets that page as its page.
        embedded: The data comes from an e-invoice's XML (an XML file, or a PDF's embedded
            invoice); values then have confidence from it, not from the pages alone.

    Returns:
        The provenance and the ``IAI-UNGROUNDED`` findings.
    """
    context = _Context(
        [PageIndex(layer) for layer in layers if layer.words], [layer.page for layer in layers if not layer.words],
        bool(layers), _usual_order(invoice), invoice.document_type == "credit_note",
    )  # fmt: skip
    only_page = layers[0].page if len(layers) == 1 else None
    found: dict[str, _Found] = {}
    for path, name, value in invoice_values(invoice):
        kind = field_kind(name, value)
        hint = (page_hints or {}).get(path)
        found[path] = _Found(path, value, kind, hint, *_ground(path, value, kind, context, hint))
    _keep_rows(found, {index.page: index for index in context.indexes})
    if "currency" in found and context.has_pages:
        _ground_currency(found["currency"], invoice, layers, context)
    _derive(found, mentions_allowances(word.text for layer in layers for word in layer.words))
    model = ModelPages(model_pages or {}, [layer.page for layer in layers])
    fields: dict[str, FieldProvenance] = {}
    for path, item in found.items():
        item.matches = model.first(path, item.matches)
        fallback = next((page for page in (item.hint, model.page(path)) if page is not None), only_page)
        page = item.matches[0].page if item.matches else fallback
        matches = tuple(item.matches[:MAX_MATCHES])
        fields[path] = FieldProvenance(path, json_value(item.value), page, matches, item.grounding, "medium")
    named = named_by(findings, fields)
    new: list[Finding] = []
    for path, item in found.items():
        first = item.matches[0] if item.matches else None
        confidence, evidence = model.judge(
            path, item.grounding, item.matches, *weigh(item.grounding, first, item.note, named.get(path, ()), embedded)
        )
        fields[path] = dataclasses.replace(fields[path], confidence=confidence, evidence=evidence, doubt=item.note)
        if item.grounding == "ungrounded":
            new.append(_finding(path, item.value, item.hint, [index.page for index in context.indexes], item.note))
    kinds = {layer.page: layer.kind for layer in layers}
    return Grounded(Provenance(fields, kinds), tuple(new))


_NEVER_DERIVED = frozenset({"total", "amount_due"})
"""The payable amount is printed on every real invoice: one that is not is worth a look."""
_NAMED = frozenset({"allowance_total", "charge_total"})


def _derive(found: Mapping[str, _Found], allowances_named: bool) -> None:
    """Marks the amounts that are not printed but follow exactly from printed ones (:mod:`.derive`).

    An allowance or charge total of 0.00 (from an empty list) only on pages that name no allowance
    or charge: where one is named, the empty list is what a dropped allowance looks like.
    """
    amounts = {path: item.value for path, item in found.items() if isinstance(item.value, Decimal)}
    known = {path for path, item in found.items() if item.grounding in ("grounded", "approximate")}
    wanted = {
        path
        for path, item in found.items()
        if item.grounding == "ungrounded" and item.kind == "money" and path not in _NEVER_DERIVED
        and not (allowances_named and path in _NAMED and item.value == 0)
    }  # fmt: skip
    if not wanted:
        return
    for path, why in derive(amounts, known, wanted).items():
        item = found[path]
        item.grounding, item.matches, item.note = "derived", [], why


def _ground_currency(item: _Found, invoice: Invoice, layers: Sequence[PageWords], context: _Context) -> None:
    """The currency's code or its symbol on the pages (:mod:`.currency`)."""
    countries = (invoice.seller.address.country_code, invoice.buyer.address.country_code)
    searched = [layer for layer in layers if item.hint is None or layer.page == item.hint]
    item.matches = currency_matches(str(item.value), searched, countries)
    if item.matches:
        item.grounding = "grounded"
    elif context.blind and (item.hint is None or item.hint in context.blind):
        item.grounding = "unknown"  # it may be on a page without words: no false alarm
    else:
        item.grounding, item.note = "ungrounded", "neither its code nor its symbol is printed"


def _usual_order(invoice: Invoice) -> DateOrder | None:
    country = invoice.seller.address.country_code
    if country:
        return "mdy" if country == "US" else "dmy"
    if invoice.currency:
        return "mdy" if invoice.currency == "USD" else "dmy"
    return None


def _ground(
    path: str, value: Any, kind: Kind, context: _Context, hint: int | None
) -> tuple[Grounding, list[Match], str | None]:
    if kind == "skip" or not context.has_pages:
        return "not_checked", [], None
    searched = [index for index in context.indexes if hint is None or index.page == hint]
    if kind == "money":
        matches, note = _find_money(path, value, searched, context.credit_note)
    elif kind == "date":
        matches, note = _find_date(value, searched, context.order)
    else:
        matches, note = [match for index in searched for match in _find(index, value, kind)], None
    if matches:
        return "grounded", matches, note
    for index in searched:
        # OCR may have misread a letter of a name or an id: grounded, less surely. Never a number
        # or a date, where one different digit is exactly the error to catch.
        if index.layer.kind == "ocr" and family_of(kind) == "alnum":
            matches.extend(_find(index, value, kind, near=True))
    if matches:
        return "approximate", matches, None
    if kind == "unit" and _RECOMMENDATION_20.fullmatch(str(value)):
        return "not_checked", [], None  # a unit code (C62, H87) from an e-invoice: a code, not printed text
    if context.blind and (hint is None or hint in context.blind):
        return "unknown", [], None  # it may be on a page without words: no false alarm
    return "ungrounded", [], note


def _find_money(
    path: str, value: Decimal, searched: list[PageIndex], credit_note: bool
) -> tuple[list[Match], str | None]:
    """An amount's matches with its own sign; a negative one printed without a sign is a doubt."""
    found = [
        pair for index in searched for pair in find_signed(index, money_forms(value, whole=not index.prints_cents),
                                                           "numeric")
    ]  # fmt: skip
    negative = value < 0
    same = [match for match, minus in found if minus == negative]
    other = [match for match, minus in found if minus != negative]
    if same or not other:
        return same, None
    name = path.rsplit(".", 1)[-1]
    if credit_note or name in _DEDUCTED or (path.startswith("allowances[") and name == "amount"):
        # A discount, a prepayment or a credit note's amounts: printed as deducted, or not, by habit.
        return other, f"printed as {other[0].text!r} without a minus sign" if negative else None
    if negative:
        return [], f"printed on page {other[0].page} only without a minus sign ({other[0].text!r})"
    return [], f"printed on page {other[0].page} only as a negative amount ({other[0].text!r})"


def _find_date(value: dt.date, searched: list[PageIndex], usual: DateOrder | None) -> tuple[list[Match], str | None]:
    """A date's matches; a ``/`` or ``-`` date that reads either way and nothing on its page settles it is a doubt."""
    if value.day > 12 or value.day == value.month:
        return [match for index in searched for match in find_forms(index, date_forms(value), "numeric")], None
    matches: list[Match] = []
    for index in searched:
        order = index.date_order or usual
        matches.extend(find_forms(index, date_forms(value, orders=(order,) if order else ()), "numeric"))
    if matches:
        return matches, None
    for index in searched:
        if index.date_order is None:  # another date on the page would have shown its order
            shown = (index.date_order or usual,) if usual else ()
            matches.extend(find_forms(index, date_forms(value) - date_forms(value, orders=shown), "numeric"))
    if matches:
        return matches, f"printed as {matches[0].text!r}, which reads as another date with day and month swapped"
    return [], None


def _find(index: PageIndex, value: Any, kind: Kind, *, near: bool = False) -> list[Match]:
    family = family_of(kind)
    if kind in ("quantity", "percent"):
        return find_forms(index, number_forms(value), family)
    text = str(value)
    whole = (find_near if near else find_forms)(index, [alnum_key(text)], family)
    if whole or kind in ("id", "unit") or near:
        return whole
    runs = find_chunks(index, text.split(), family)
    if runs is None:
        return []
    box = runs[0].box
    for run in runs[1:]:
        box = box.union(run.box)
    return [Match(index.page, box, " ".join(run.text for run in runs))]


def _keep_rows(found: Mapping[str, _Found], indexes: Mapping[int, PageIndex]) -> None:
    """Keeps each line item's values to matches in its row (:mod:`invoiceai.provenance.rows`)."""
    items: dict[int, dict[str, _Found]] = {}
    for path, item in found.items():
        head, bracket, rest = path.partition("].")
        if bracket and head.startswith("line_items["):
            items.setdefault(int(head[len("line_items[") :]), {})[rest] = item

    def level(match: Match) -> Match:  # a tilted scan's rows slope: compare heights with the tilt taken out
        index = indexes.get(match.page)
        return index.level(match) if index is not None else match

    ordered = [items[number] for number in sorted(items)]
    heights = {page: index.line_height for page, index in indexes.items()}
    levelled = [{name: [level(match) for match in item.matches] for name, item in values.items()} for values in ordered]
    for number, (values, band) in enumerate(zip(ordered, item_bands(levelled, heights), strict=True)):
        if band is None:
            continue
        for name, item in values.items():
            if name == band.anchor or item.grounding not in ("grounded", "approximate"):
                continue
            inside = [match for match in item.matches if band.holds(level(match))]
            if inside:
                item.matches = inside
                continue
            where = f"printed on page {item.matches[0].page}, but not in line item {number + 1}'s row"
            if name in ROW_VALUES:
                item.grounding, item.matches, item.note = "ungrounded", [], where
            elif item.note is None:
                item.note = where


def named_by(findings: Sequence[Finding], fields: Mapping[str, FieldProvenance]) -> dict[str, list[Finding]]:
    """The findings naming each path; an error the evidence explains (:mod:`.explain`) counts as a warning."""
    named: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.rule == UNGROUNDED:
            continue
        why = explained(finding, fields) if finding.severity == "error" else None
        if why is not None:
            finding = finding.model_copy(update={"severity": "warning", "rule": f"{finding.rule} ({why})"})
        for path in finding.fields:
            named.setdefault(path, []).append(finding)
    return named


def weigh(
    grounding: Grounding, first: Match | None, doubt: str | None, findings: Sequence[Finding], embedded: bool
) -> tuple[Confidence, tuple[str, ...]]:
    """A value's confidence and evidence, from its grounding and the findings that name it.

    Args:
        grounding: Whether it is printed on its page.
        first: Its best match on the page, if any.
        doubt: Why a match is less sure (a swapped day and month, a row elsewhere), or why it is derived.
        findings: The findings naming it (an error the evidence explains counts as a warning).
        embedded: The data comes from an e-invoice's XML.
    """
    evidence: list[str] = []
    page, text = (first.page, first.text) if first is not None else (None, None)
    phrase = {
        "grounded": f"printed on page {page}",
        "approximate": f"printed on page {page} as {text!r}, one character different (OCR)",
        "derived": "not printed as such, but follows from printed values",
        "ungrounded": "not printed on its page",
        "unknown": "its page has no words to check (a scan without OCR)",
        "confirmed": "confirmed by a person",
    }.get(grounding)
    if phrase is not None:
        evidence.append(phrase)
    if doubt is not None:
        evidence.append(doubt)
    disagrees = any(finding.rule == CROSS_CHECK for finding in findings)
    if embedded:
        evidence.append("the e-invoice's pages disagree" if disagrees else "from the embedded e-invoice")
    errors = [finding.rule for finding in findings if finding.severity == "error" and finding.rule != CROSS_CHECK]
    warnings = [finding.rule for finding in findings if finding.severity == "warning" and finding.rule != CROSS_CHECK]
    evidence.extend(f"{rule} names it" for rule in (*errors, *warnings))
    if grounding == "confirmed":  # a person looked: their word outweighs a warning, not an error
        return ("medium" if errors else "high"), tuple(evidence)
    if grounding == "ungrounded" or errors or disagrees:
        return "low", tuple(evidence)
    sure = (grounding == "grounded" and doubt is None) or grounding == "derived" or embedded
    return ("high" if sure and not warnings else "medium"), tuple(evidence)


def _finding(path: str, value: Any, hint: int | None, pages: list[int], note: str | None) -> Finding:
    where = f"page {hint}" if hint is not None else "page " + str(pages[0]) if len(pages) == 1 else "any page"
    why = f" ({note})" if note else ""
    return Finding(
        rule=UNGROUNDED,
        severity="warning",
        message=f"{path} = {json_value(value)!r} is not printed on {where}{why}; check it against the document.",
        fields=(path,),
    )


def json_value(value: Any) -> Any:
    """A value as JSON shows it: money and dates as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
