"""``invoiceai convert INPUT --to cii|ubl|facturx``: turn any invoice into a standard e-invoice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["DESCRIPTION", "HELP", "NAME", "add_arguments", "run"]


NAME = "convert"
HELP = "convert an invoice (PDF, image, e-invoice) to CII, UBL or Factur-X"
DESCRIPTION = (
    "Read INPUT (an e-invoice is read from its XML; anything else is extracted by Claude) and write "
    "it as EN 16931 XML (cii, ubl) or as a Factur-X PDF (facturx: the XML embedded in the visible "
    "invoice). The result is refused when the invoice breaks an EN 16931 arithmetic rule, unless "
    "--force is given."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``convert`` subcommand's arguments to its parser."""
    parser.add_argument("input", metavar="INPUT", help="path or http(s) URL")
    parser.add_argument("--to", required=True, choices=("cii", "ubl", "facturx"), dest="syntax")
    parser.add_argument("--out", type=Path, metavar="PATH", help="output file (default: stdout)")
    parser.add_argument(
        "--pdf", type=Path, metavar="PATH", help="facturx: the visible invoice to embed into (default: INPUT)"
    )
    parser.add_argument("--model", help="Claude model id, when INPUT needs extracting")
    parser.add_argument("--pages", metavar="SEL", help='pages to read, e.g. "1-2"')
    parser.add_argument("--password", help="password for an encrypted PDF")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    parser.add_argument("--force", action="store_true", help="write even if validation reports errors")


def run(args: argparse.Namespace) -> int:
    """Extracts INPUT and writes it in the requested syntax; returns the exit code."""
    from invoiceai.extractor import Extractor

    with Extractor(model=args.model, cache=None if args.no_cache else "sqlite") as extractor:
        result = extractor.extract(args.input, pages=args.pages, password=args.password)
    errors = result.errors
    for finding in result.findings:
        print(f"invoiceai: {result.source}: {finding}", file=sys.stderr)
    if errors and not args.force:
        print(
            f"invoiceai: not converting {result.source}: {len(errors)} validation error(s) above "
            "(fix the input, or pass --force)",
            file=sys.stderr,
        )
        return 1
    if args.syntax == "facturx":
        from invoiceai.render.pdf import to_facturx

        visual = _visual_pdf(args, result.document_id)
        output = to_facturx(result.data, visual, force=args.force)
    else:
        from invoiceai.einvoice import to_xml

        output = to_xml(result.data, args.syntax, force=args.force)
    if args.out is not None:
        args.out.write_bytes(output)
        print(f"invoiceai: wrote {args.out} ({len(output)} bytes)", file=sys.stderr)
    elif args.syntax == "facturx" and sys.stdout.isatty():
        print("invoiceai: a Factur-X PDF is binary; pass --out FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    return 0


def _visual_pdf(args: argparse.Namespace, document_id: str) -> bytes:
    """The PDF to embed the XML into: --pdf, or INPUT itself (an image becomes a one-page PDF)."""
    from invoiceai.documents import load_document
    from invoiceai.errors import ConfigurationError
    from invoiceai.render.pdf import image_to_pdf

    document = load_document(args.pdf if args.pdf is not None else args.input)
    if document.media_type == "application/pdf":
        return document.data
    if document.media_type.startswith("image/"):
        return image_to_pdf(document.data)
    raise ConfigurationError(
        f"{document.name} is {document.media_type}, not a PDF or image: Factur-X embeds the XML into the "
        "visible invoice, so pass it with --pdf FILE."
    )
