"""The values the e-invoice functions return. Plain frozen dataclasses, cheap to import."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoiceai.einvoice.syntax import Syntax
    from invoiceai.schema import Invoice

__all__ = ["DocumentHeader", "EInvoice"]


@dataclasses.dataclass(frozen=True)
class DocumentHeader:
    """Facts about an e-invoice that the :class:`~invoiceai.Invoice` model has no field for.

    Attributes:
        type_code: BT-3 exactly as written (``"389"``), where ``document_type`` keeps only its meaning.
        specification: BT-24, the specification identifier (Factur-X/ZUGFeRD guideline ID or UBL
            CustomizationID), e.g. ``"urn:cen.eu:en16931:2017"``.
    """

    type_code: str | None
    specification: str | None


@dataclasses.dataclass(frozen=True)
class EInvoice:
    """An e-invoice read from XML.

    Attributes:
        invoice: The invoice data.
        syntax: ``"cii"`` (D16B: Factur-X, ZUGFeRD 2.x, XRechnung), ``"zugferd1"`` or ``"ubl"``.
        header: BT-3 as written and BT-24.
    """

    invoice: Invoice
    syntax: Syntax
    header: DocumentHeader
