"""UBL parties and places: seller, buyer, payee, tax representative (BG-4/7/10/11), delivery (BG-13).

Reading and writing sit side by side so one module holds the binding of each business term:

- seller / buyer (``cac:AccountingSupplierParty/cac:Party``, ``cac:AccountingCustomerParty/cac:Party``):
  ``cbc:EndpointID`` BT-34/49, ``cac:PartyIdentification/cbc:ID`` BT-29/46 (the first one that is
  not a SEPA creditor id, BT-90), ``cac:PartyName/cbc:Name`` BT-28/45, ``cac:PostalAddress``
  BG-5/8, ``cac:PartyTaxScheme`` BT-31/48 (``VAT``) and BT-32 (any other scheme),
  ``cac:PartyLegalEntity`` BT-27/44 (``RegistrationName``), BT-30/47 (``CompanyID``), BT-33
  (``CompanyLegalForm``), ``cac:Contact`` BT-41/56, BT-42/57, BT-43/58;
- payee (``cac:PayeeParty``): BT-59 ``cac:PartyName/cbc:Name``, BT-60, BT-61;
- tax representative (``cac:TaxRepresentativeParty``): BT-62, BG-12, BT-63;
- delivery (``cac:Delivery``): BT-70 ``cac:DeliveryParty/cac:PartyName/cbc:Name``, BT-71
  ``cac:DeliveryLocation/cbc:ID``, BT-72 ``cbc:ActualDeliveryDate``, BG-15
  ``cac:DeliveryLocation/cac:Address``.

Elements are written in the order of the UBL 2.1 ``PartyType`` and ``DeliveryType``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice._nodes import date_value, first, first_text, one_line, texts
from invoiceai.einvoice.ubl_common import CAC, CBC, add_with_scheme, iso, line_text, present, with_attribute

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.schema import Address, Delivery, Party

__all__ = [
    "NOT_SEPA",
    "SEPA",
    "has_payee",
    "has_tax_representative",
    "read_address",
    "read_delivery",
    "read_party",
    "write_address",
    "write_delivery",
    "write_party",
    "write_payee",
    "write_tax_representative",
]

Role = Literal["seller", "buyer", "payee", "tax_representative"]

# XPath 1.0 has no upper-case(); the official rules compare the scheme case-insensitively.
SEPA = "translate(normalize-space(@schemeID), 'sepa', 'SEPA') = 'SEPA'"
"""XPath predicate: an identifier whose scheme is ``SEPA`` (a bank-assigned creditor id, BT-90)."""
NOT_SEPA = f"not({SEPA})"
"""XPath predicate: any other identifier."""
_VAT = "cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID)='VAT']/cbc:CompanyID"
_NOT_VAT = "cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID)!='VAT']/cbc:CompanyID"


def read_party(party: etree._Element | None, ns: dict[str, str], role: Role) -> dict[str, Any]:
    """Reads one party into the keyword data of a :class:`~invoiceai.schema.Party`.

    Only the terms EN 16931 defines for the role are read: a payee has a name and two
    identifiers, a tax representative a name, a VAT id and an address.
    """
    if party is None:
        return {}
    identifier, identifier_scheme = with_attribute(party, f"cac:PartyIdentification/cbc:ID[{NOT_SEPA}]", ns)
    legal_id, legal_scheme = with_attribute(party, "cac:PartyLegalEntity/cbc:CompanyID", ns)
    trading_name = one_line(first_text(party, "cac:PartyName/cbc:Name", ns))
    if role == "payee":
        return {
            "name": trading_name,
            "identifier": identifier,
            "identifier_scheme": identifier_scheme,
            "legal_registration_id": legal_id,
            "legal_registration_scheme": legal_scheme,
        }
    address = first(party, "cac:PostalAddress", ns)
    address_data = read_address(address, ns) if address is not None else {}
    if role == "tax_representative":
        return {"name": trading_name, "vat_id": first_text(party, _VAT, ns), "address": address_data}
    endpoint, endpoint_scheme = with_attribute(party, "cbc:EndpointID", ns)
    # BT-27/BT-44 is the legal registration name; the trading name (BT-28/BT-45) stands in
    # only when a document omits it.
    name = one_line(first_text(party, "cac:PartyLegalEntity/cbc:RegistrationName", ns)) or trading_name
    seller = role == "seller"
    vat_id = first_text(party, _VAT, ns)
    tax_id = one_line(first_text(party, _NOT_VAT, ns)) if seller else None
    if seller and tax_id is None and vat_id is not None and not _is_vat_id(vat_id):
        # A national tax number filed under the VAT scheme ("DE/12/345/67890") is no VAT id and
        # the model drops it with a finding; it is kept as what it is, the seller's BT-32.
        tax_id = one_line(vat_id)
    return {
        "name": name,
        "trading_name": trading_name,
        "identifier": identifier,
        "identifier_scheme": identifier_scheme,
        "legal_registration_id": legal_id,
        "legal_registration_scheme": legal_scheme,
        "legal_form": line_text(party, "cac:PartyLegalEntity/cbc:CompanyLegalForm", ns) if seller else None,
        "vat_id": vat_id,
        # BT-32 exists for the seller only; a buyer's BT-47 is its legal registration id.
        "tax_id": tax_id,
        "electronic_address": endpoint,
        "electronic_address_scheme": endpoint_scheme,
        "contact_name": line_text(party, "cac:Contact/cbc:Name", ns),
        "email": one_line(first_text(party, "cac:Contact/cbc:ElectronicMail", ns)),
        "phone": one_line(first_text(party, "cac:Contact/cbc:Telephone", ns)),
        "address": address_data,
    }


def _is_vat_id(text: str) -> bool:
    from invoiceai.schema.normalize import NormalizationError, normalize_vat_id

    try:
        normalize_vat_id(text)
    except NormalizationError:
        return False
    return True


def read_address(address: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    """Reads a ``cac:PostalAddress`` or ``cac:Address``; the street lines are joined with ``", "``."""
    street = texts(address, "cbc:StreetName | cbc:AdditionalStreetName | cac:AddressLine/cbc:Line", ns)
    return {
        "street": ", ".join(line for line in (one_line(part) for part in street) if line) or None,
        "city": one_line(first_text(address, "cbc:CityName", ns)),
        "postal_code": one_line(first_text(address, "cbc:PostalZone", ns)),
        "region": one_line(first_text(address, "cbc:CountrySubentity", ns)),
        "country_code": first_text(address, "cac:Country/cbc:IdentificationCode", ns),
    }


def read_delivery(root: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    """Reads the first ``cac:Delivery`` (EN 16931 has one) into the data of a :class:`~invoiceai.schema.Delivery`."""
    delivery = first(root, "cac:Delivery", ns)
    if delivery is None:
        return {}
    location_id, location_scheme = with_attribute(delivery, "cac:DeliveryLocation/cbc:ID", ns)
    address = first(delivery, "cac:DeliveryLocation/cac:Address", ns)
    return {
        "party_name": one_line(first_text(delivery, "cac:DeliveryParty/cac:PartyName/cbc:Name", ns)),
        "location_id": location_id,
        "location_scheme": location_scheme,
        "date": date_value(first_text(delivery, "cbc:ActualDeliveryDate", ns)),
        "address": read_address(address, ns) if address is not None else {},
    }


def write_party(element: etree._Element, party: Party, *, seller: bool, creditor_id: str | None = None) -> None:
    """Writes the seller or the buyer into ``element`` (a ``cac:Party``).

    Args:
        element: The empty ``cac:Party``.
        party: The seller or the buyer.
        seller: Whether it is the seller (BT-32 and BT-33 exist only for the seller).
        creditor_id: The SEPA creditor id (BT-90) to write as a ``SEPA`` party identifier, when
            there is no payee to carry it.
    """
    add_with_scheme(element, CBC + "EndpointID", party.electronic_address, party.electronic_address_scheme)
    _identification(element, party.identifier, party.identifier_scheme)
    _identification(element, creditor_id, "SEPA")
    _party_name(element, party.trading_name)
    write_address(element, CAC + "PostalAddress", party.address, always=True)
    _tax_scheme(element, party.vat_id, "VAT")
    if seller:
        _tax_scheme(element, party.tax_id, "FC")
    legal = add(element, CAC + "PartyLegalEntity")
    add(legal, CBC + "RegistrationName", party.name)
    # A buyer's BT-47 used to be read into tax_id: it is still written from there when it is all there is.
    legal_id, legal_scheme = party.legal_registration_id, party.legal_registration_scheme
    if not legal_id and not seller:
        legal_id, legal_scheme = party.tax_id, None
    add_with_scheme(legal, CBC + "CompanyID", legal_id, legal_scheme)
    if seller:
        add_present(legal, CBC + "CompanyLegalForm", party.legal_form)
    if present(party.contact_name, party.phone, party.email):
        contact = add(element, CAC + "Contact")
        add_present(contact, CBC + "Name", party.contact_name)
        add_present(contact, CBC + "Telephone", party.phone)
        add_present(contact, CBC + "ElectronicMail", party.email)


def has_payee(payee: Party, seller: Party) -> bool:
    """Whether the payee is written: it has a name, identifier or legal registration id, and is not the seller.

    BR-17 wants a ``cac:PayeeParty`` to have a name that differs from the seller's (a payee
    that is the seller is no payee). One without a name is refused by the writer's plan (BR-17)
    and, with ``force=True``, written as it is, as the CII writer does.
    """
    has_content = bool(payee.name or payee.identifier or payee.legal_registration_id)
    return has_content and payee.name != seller.name


def write_payee(root: etree._Element, payee: Party, seller: Party, creditor_id: str | None) -> None:
    """Writes ``cac:PayeeParty`` when :func:`has_payee`; it then carries the SEPA creditor id (BT-90) too."""
    if not has_payee(payee, seller):
        return
    element = add(root, CAC + "PayeeParty")
    _identification(element, payee.identifier, payee.identifier_scheme)
    _identification(element, creditor_id, "SEPA")
    _party_name(element, payee.name)
    if payee.legal_registration_id:
        legal = add(element, CAC + "PartyLegalEntity")
        add_with_scheme(legal, CBC + "CompanyID", payee.legal_registration_id, payee.legal_registration_scheme)


def has_tax_representative(party: Party) -> bool:
    """Whether the tax representative has a name, a VAT id or any part of an address."""
    address = party.address
    return present(
        party.name,
        party.vat_id,
        address.street,
        address.city,
        address.postal_code,
        address.region,
        address.country_code,
    )


def write_tax_representative(root: etree._Element, party: Party) -> None:
    """Writes ``cac:TaxRepresentativeParty`` (BG-11) when :func:`has_tax_representative`."""
    if not has_tax_representative(party):
        return
    element = add(root, CAC + "TaxRepresentativeParty")
    _party_name(element, party.name)
    write_address(element, CAC + "PostalAddress", party.address, always=True)
    _tax_scheme(element, party.vat_id, "VAT")


def write_delivery(root: etree._Element, delivery: Delivery) -> None:
    """Writes ``cac:Delivery`` (BG-13) when any of its terms is given."""
    has_location = present(delivery.location_id) or _has_address(delivery.address)
    if not (has_location or present(delivery.party_name, delivery.date)):
        return
    element = add(root, CAC + "Delivery")
    add_present(element, CBC + "ActualDeliveryDate", iso(delivery.date))
    if has_location:
        location = add(element, CAC + "DeliveryLocation")
        add_with_scheme(location, CBC + "ID", delivery.location_id, delivery.location_scheme)
        write_address(location, CAC + "Address", delivery.address)
    if delivery.party_name:
        _party_name(add(element, CAC + "DeliveryParty"), delivery.party_name)


def write_address(parent: etree._Element, tag: str, address: Address, *, always: bool = False) -> None:
    """Writes an address as ``tag``; an empty one only when ``always`` (the seller's and buyer's are mandatory)."""
    if not (always or _has_address(address)):
        return
    element = add(parent, tag)
    add_present(element, CBC + "StreetName", address.street)
    add_present(element, CBC + "CityName", address.city)
    add_present(element, CBC + "PostalZone", address.postal_code)
    add_present(element, CBC + "CountrySubentity", address.region)
    if address.country_code:
        add(add(element, CAC + "Country"), CBC + "IdentificationCode", address.country_code)


def _has_address(address: Address) -> bool:
    return present(address.street, address.city, address.postal_code, address.region, address.country_code)


def _identification(element: etree._Element, value: str | None, scheme: str | None) -> None:
    if value:
        add_with_scheme(add(element, CAC + "PartyIdentification"), CBC + "ID", value, scheme)


def _party_name(element: etree._Element, name: str | None) -> None:
    if name:
        add(add(element, CAC + "PartyName"), CBC + "Name", name)


def _tax_scheme(element: etree._Element, company_id: str | None, scheme: str) -> None:
    if company_id:
        tax_scheme = add(element, CAC + "PartyTaxScheme")
        add(tax_scheme, CBC + "CompanyID", company_id)
        add(add(tax_scheme, CAC + "TaxScheme"), CBC + "ID", scheme)
