"""CII trade parties (BG-4 seller, BG-7 buyer, BG-10 payee, BG-11 tax representative) and BG-13 delivery.

One ``ram:TradePartyType`` carries every party; which business terms each one has differs (a
payee has no address in EN 16931, a tax representative no contact), so each role reads and
writes only its own terms. The same element names serve ZUGFeRD 1.0, whose parties are read
with its namespaces.

Several identifiers (BT-29, ``ram:ID`` / ``ram:GlobalID``) are allowed; :class:`~invoiceai.Party`
keeps one: the first ``GlobalID`` that names its scheme, else the first ``ID``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from invoiceai.einvoice._build import add, add_present
from invoiceai.einvoice._nodes import element_text, first, first_text, nodes, one_line, texts
from invoiceai.einvoice.cii_common import RAM, add_date, add_id, date_at, line_at

if TYPE_CHECKING:
    from lxml import etree

    from invoiceai.schema import Address, Delivery, Party

__all__ = [
    "Role",
    "read_address",
    "read_delivery",
    "read_identifier",
    "read_party",
    "write_address",
    "write_delivery",
    "write_party",
]

Role = Literal["seller", "buyer", "payee", "tax_representative"]

_CONTACT = "ram:DefinedTradeContact"
_FIELDS: dict[Role, frozenset[str]] = {
    "seller": frozenset(
        {"trading_name", "identifier", "legal", "legal_form", "vat_id", "tax_id", "electronic", "contact", "address"}
    ),
    "buyer": frozenset({"trading_name", "identifier", "legal", "vat_id", "electronic", "contact", "address"}),
    "payee": frozenset({"identifier", "legal"}),
    "tax_representative": frozenset({"vat_id", "address"}),
}


def read_party(party: etree._Element | None, ns: dict[str, str], role: Role) -> dict[str, Any]:
    """Reads one trade party into the keyword data of a :class:`~invoiceai.Party`.

    Args:
        party: The ``ram:*TradeParty`` element, or ``None``.
        ns: The document's namespaces.
        role: Which party it is: only that role's business terms are read.
    """
    if party is None:
        return {}
    fields = _FIELDS[role]
    data: dict[str, Any] = {"name": line_at(party, "ram:Name", ns)}
    if "identifier" in fields:
        data["identifier"], data["identifier_scheme"] = read_identifier(party, ns)
    if "legal" in fields:
        legal = first(party, "ram:SpecifiedLegalOrganization", ns)
        data["legal_registration_id"] = line_at(legal, "ram:ID", ns)
        identifier = first(legal, "ram:ID", ns) if legal is not None else None
        data["legal_registration_scheme"] = _scheme(identifier) if data["legal_registration_id"] else None
        if "trading_name" in fields:
            data["trading_name"] = line_at(legal, "ram:TradingBusinessName", ns)
    if "legal_form" in fields:
        data["legal_form"] = line_at(party, "ram:Description", ns)
    if "vat_id" in fields:
        data["vat_id"] = first_text(party, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", ns)
    if "tax_id" in fields:
        data["tax_id"] = line_at(party, "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']", ns)
        if data["tax_id"] is None and data["vat_id"] is not None and not _is_vat_id(data["vat_id"]):
            # A tax number filed as the VAT id ("DE37/302/30168", scheme VA) is a tax number (BT-32).
            data["tax_id"], data["vat_id"] = one_line(data["vat_id"]), None
    if "electronic" in fields:
        uri = first(party, "ram:URIUniversalCommunication/ram:URIID", ns)
        data["electronic_address"] = line_at(party, "ram:URIUniversalCommunication/ram:URIID", ns)
        data["electronic_address_scheme"] = _scheme(uri) if data["electronic_address"] else None
    if "contact" in fields:
        data.update(_read_contact(party, ns))
    if "address" in fields:
        address = first(party, "ram:PostalTradeAddress", ns)
        data["address"] = read_address(address, ns) if address is not None else {}
    return data


def read_identifier(node: etree._Element, ns: dict[str, str]) -> tuple[str | None, str | None]:
    """The identifier to keep of a party or location and its scheme (see the module docstring)."""
    for element in nodes(node, "ram:GlobalID", ns):
        value = one_line(element_text(element))
        if value and _scheme(element):
            return value, _scheme(element)
    return line_at(node, "ram:ID", ns), None


def _is_vat_id(value: str) -> bool:
    from invoiceai.schema.normalize import NormalizationError, normalize_vat_id

    try:
        normalize_vat_id(value)
    except NormalizationError:
        return False
    return True


def _scheme(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return one_line(element.get("schemeID"))


def _read_contact(party: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    # BT-41 is a person or a department; CII has an element for each.
    return {
        "contact_name": line_at(party, f"{_CONTACT}/ram:PersonName", ns)
        or line_at(party, f"{_CONTACT}/ram:DepartmentName", ns),
        "email": line_at(party, f"{_CONTACT}/ram:EmailURIUniversalCommunication/ram:URIID", ns),
        "phone": line_at(party, f"{_CONTACT}/ram:TelephoneUniversalCommunication/ram:CompleteNumber", ns),
    }


def read_address(address: etree._Element, ns: dict[str, str]) -> dict[str, Any]:
    """Reads a ``ram:PostalTradeAddress``; the three address lines are joined with ", "."""
    street = [one_line(line) for line in texts(address, "ram:LineOne | ram:LineTwo | ram:LineThree", ns)]
    return {
        "street": ", ".join(line for line in street if line) or None,
        "city": line_at(address, "ram:CityName", ns),
        "postal_code": line_at(address, "ram:PostcodeCode", ns),
        "region": line_at(address, "ram:CountrySubDivisionName", ns),
        "country_code": first_text(address, "ram:CountryID", ns),
    }


def read_delivery(delivery: etree._Element | None, ns: dict[str, str]) -> dict[str, Any]:
    """Reads BG-13 from the header trade delivery: the ship-to party, BT-72 and its address."""
    if delivery is None:
        return {}
    ship_to = first(delivery, "ram:ShipToTradeParty", ns)
    data: dict[str, Any] = {
        "date": date_at(delivery, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString", ns)
    }
    if ship_to is not None:
        data["party_name"] = line_at(ship_to, "ram:Name", ns)
        data["location_id"], data["location_scheme"] = read_identifier(ship_to, ns)
        address = first(ship_to, "ram:PostalTradeAddress", ns)
        data["address"] = read_address(address, ns) if address is not None else {}
    return data


def write_party(parent: etree._Element, tag: str, party: Party, role: Role) -> None:
    """Appends ``party`` as ``tag`` (e.g. ``ram:SellerTradeParty``) in the XSD's element order.

    A party with nothing to write (every field of its role empty) is left out; the seller and
    the buyer are mandatory and always written.
    """
    fields = _FIELDS[role]
    if role in ("payee", "tax_representative") and not _has_content(party, fields):
        return
    element = add(parent, RAM + tag)
    if "identifier" in fields and party.identifier:
        add_id(element, party.identifier, party.identifier_scheme)
    add_present(element, RAM + "Name", party.name)
    if "legal_form" in fields:
        add_present(element, RAM + "Description", party.legal_form)
    if "legal" in fields:
        _write_legal(element, party, role)
    if "contact" in fields and (party.contact_name or party.phone or party.email):
        contact = add(element, RAM + "DefinedTradeContact")
        add_present(contact, RAM + "PersonName", party.contact_name)
        if party.phone:
            add(add(contact, RAM + "TelephoneUniversalCommunication"), RAM + "CompleteNumber", party.phone)
        if party.email:
            add(add(contact, RAM + "EmailURIUniversalCommunication"), RAM + "URIID", party.email)
    if "address" in fields:
        write_address(element, party.address)
    if "electronic" in fields:
        _write_electronic_address(element, party)
    if "vat_id" in fields and party.vat_id:
        add(add(element, RAM + "SpecifiedTaxRegistration"), RAM + "ID", party.vat_id, schemeID="VA")
    if "tax_id" in fields and party.tax_id:
        add(add(element, RAM + "SpecifiedTaxRegistration"), RAM + "ID", party.tax_id, schemeID="FC")


def _has_content(party: Party, fields: frozenset[str]) -> bool:
    values: list[object] = [party.name]
    if "identifier" in fields:
        values.append(party.identifier)
    if "legal" in fields:
        values.append(party.legal_registration_id)
    if "vat_id" in fields:
        values.append(party.vat_id)
    if "address" in fields:
        values.append(party.address.country_code)
    return any(values)


def _write_legal(element: etree._Element, party: Party, role: Role) -> None:
    # BT-47: the buyer's legal registration, falling back to the tax_id older data stored it in.
    legal_id = party.legal_registration_id
    scheme = party.legal_registration_scheme
    if role == "buyer" and not legal_id:
        legal_id, scheme = party.tax_id, None
    trading_name = party.trading_name if role in ("seller", "buyer") else None
    if not legal_id and not trading_name:
        return
    legal = add(element, RAM + "SpecifiedLegalOrganization")
    if legal_id:
        if scheme:
            add(legal, RAM + "ID", legal_id, schemeID=scheme)
        else:
            add(legal, RAM + "ID", legal_id)
    add_present(legal, RAM + "TradingBusinessName", trading_name)


def _write_electronic_address(element: etree._Element, party: Party) -> None:
    address = party.electronic_address
    if not address:
        return
    # BR-62 / BR-63: the address needs its scheme. An e-mail address is scheme EM; any other
    # address without a scheme cannot be written validly and is left out.
    scheme = party.electronic_address_scheme or ("EM" if "@" in address else None)
    if scheme:
        add(add(element, RAM + "URIUniversalCommunication"), RAM + "URIID", address, schemeID=scheme)


def write_address(parent: etree._Element, address: Address) -> None:
    """Appends a ``ram:PostalTradeAddress``; left out without a country code, which the XSD requires."""
    if not address.country_code:
        return
    element = add(parent, RAM + "PostalTradeAddress")
    add_present(element, RAM + "PostcodeCode", address.postal_code)
    add_present(element, RAM + "LineOne", address.street)
    add_present(element, RAM + "CityName", address.city)
    add(element, RAM + "CountryID", address.country_code)
    add_present(element, RAM + "CountrySubDivisionName", address.region)


def write_delivery(parent: etree._Element, delivery: Delivery) -> etree._Element:
    """Appends ``ram:ApplicableHeaderTradeDelivery`` with BG-13 (ship-to party, BT-72) and returns it."""
    element = add(parent, RAM + "ApplicableHeaderTradeDelivery")
    if delivery.location_id or delivery.party_name or delivery.address.country_code:
        ship_to = add(element, RAM + "ShipToTradeParty")
        if delivery.location_id:
            add_id(ship_to, delivery.location_id, delivery.location_scheme)
        add_present(ship_to, RAM + "Name", delivery.party_name)
        write_address(ship_to, delivery.address)
    if delivery.date is not None:
        add_date(add(element, RAM + "ActualDeliverySupplyChainEvent"), RAM + "OccurrenceDateTime", delivery.date)
    return element
