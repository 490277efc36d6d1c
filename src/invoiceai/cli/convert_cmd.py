"""``invoiceai convert INPUT --to cii|ubl|facturx``: turn any invoice into a standard e-invoice."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoiceai.cli.hints import cli_message
from invoiceai.cli.inputs import (
    existing_file,
    expand_inputs,
    is_url,
    output_path,
    page_selection,
    refuse_overwriting_inputs,
    shown_source,
)
from invoiceai.config import DEFAULT_MODEL

if TYPE_CHECKING:
    from invoiceai.documents import Document

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "NAME", "add_arguments", "run"]


NAME = "convert"
HELP = "convert an invoice (PDF, image, e-invoice) to CII, UBL or Factur-X"
DESCRIPTION = (
    "Read INPUT (an e-invoice is read from its XML; anything else is extracted by Claude) and write "
    "it as EN 16931 XML (cii, ubl) or as a Factur-X PDF (facturx: the XML embedded in the visible "
    "invoice). The result is refused when the invoice breaks an EN 16931 arithmetic rule, unless "
    "--force is given."
)
EPILOG = """\
examples:
  invoiceai convert examples/sample-facturx.pdf --to ubl --out invoice.xml     e-invoice to UBL: offline
  invoiceai convert scan.jpg --to cii --out invoice.xml                         a scan, read by Claude
  invoiceai convert invoice.xml --to facturx --pdf visible.pdf --out out.pdf    XML into a Factur-X PDF

exit status: 0 written; 1 the invoice breaks an EN 16931 rule (see --force) or cannot be read;
2 usage or configuration error, nothing done.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``convert`` subcommand's arguments to its parser."""
    parser.add_argument("input", metavar="INPUT", help="path or http(s) URL")
    parser.add_argument(
        "--to",
        required=True,
        choices=("cii", "ubl", "facturx"),
        dest="syntax",
        help="cii: UN/CEFACT CII XML (XRechnung, ZUGFeRD); ubl: OASIS UBL 2.1 XML (Peppol); facturx: a PDF "
        "with the CII XML embedded (required, no default)",
    )
    parser.add_argument("--out", type=output_path, metavar="PATH", help="output file (default: stdout)")
    parser.add_argument(
        "--pdf", type=existing_file, metavar="PATH", help="facturx: the visible invoice to embed into (default: INPUT)"
    )
    parser.add_argument(
        "--model", help=f"Claude model id, when INPUT needs extracting (default: INVOICEAI_MODEL or {DEFAULT_MODEL})"
    )
    parser.add_argument("--pages", type=page_selection, metavar="SEL", help='pages to read, e.g. "1-2" (default: all)')
    parser.add_argument("--password", metavar="PW", help="password for an encrypted PDF (visible in the process list)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    parser.add_argument("--force", action="store_true", help="write even if validation reports errors")


def run(args: argparse.Namespace) -> int:
    """Extracts INPUT and writes it in the requested syntax; returns the exit code."""
    from invoiceai.errors import ConfigurationError, InvoiceAIError

    _check(args)
    try:
        return _convert(args)
    except ConfigurationError:
        raise  # a usage error, reported by main with exit status 2
    except InvoiceAIError as exc:
        # One input, but the line still names it, as extract's lines do.
        print(f"invoiceai: {shown_source(args.input)}: {cli_message(exc)}", file=sys.stderr)
        return 1


def _convert(args: argparse.Namespace) -> int:
    """Reads INPUT and writes it in the asked-for syntax; returns the exit code."""
    from invoiceai.documents import Document, load_document
    from invoiceai.extractor import Extractor

    # Read INPUT once when it is also the visible PDF: a pipe (/dev/stdin) cannot be read twice,
    # and a URL would be fetched twice.
    source: str | Document = load_document(args.input) if args.syntax == "facturx" and args.pdf is None else args.input
    with Extractor(model=args.model, cache=None if args.no_cache else "sqlite") as extractor:
        result = extractor.extract(source, pages=args.pages, password=args.password)
    errors = result.errors
    for finding in result.findings:
        print(f"invoiceai: {result.source}: {cli_message(str(finding))}", file=sys.stderr)
    if errors and not args.force:
        print(
            f"invoiceai: not converting {result.source}: {len(errors)} validation error(s) above "
            "(fix the input, or pass --force)",
            file=sys.stderr,
        )
        return 1
    if args.syntax == "facturx":
        from invoiceai.render.pdf import to_facturx

        visual = _visual_pdf(source if isinstance(source, Document) else load_document(args.pdf))
        output = to_facturx(result.data, visual, force=args.force)
    else:
        from invoiceai.einvoice import to_xml

        output = to_xml(result.data, args.syntax, force=args.force)
    return _write(args, output)


def _write(args: argparse.Namespace, output: bytes) -> int:
    if args.out is not None:
        args.out.write_bytes(output)
        print(f"invoiceai: wrote {args.out} ({len(output)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    return 0


def _check(args: argparse.Namespace) -> None:
    """Refuses, before any work, what cannot end well: a missing INPUT, a directory, a PDF to a terminal."""
    from invoiceai.errors import ConfigurationError

    if not is_url(args.input) and Path(args.input).expanduser().is_dir():
        raise ConfigurationError(f"{args.input} is a directory; convert takes one invoice file.")
    expand_inputs([args.input])  # a missing INPUT: "no such file or directory", with a hint
    refuse_overwriting_inputs(args.out, [args.input, *([str(args.pdf)] if args.pdf is not None else [])])
    if args.syntax == "facturx" and args.out is None and sys.stdout.isatty():
        raise ConfigurationError("a Factur-X PDF is binary; pass --out FILE")


def _visual_pdf(document: Document) -> bytes:
    """The PDF to embed the XML into: --pdf, or INPUT itself (an image becomes a one-page PDF)."""
    from invoiceai.errors import ConfigurationError
    from invoiceai.render.pdf import image_to_pdf

    if document.media_type == "application/pdf":
        return document.data
    if document.media_type.startswith("image/"):
        return image_to_pdf(document.data)
    raise ConfigurationError(
        f"{document.name} is {document.media_type}, not a PDF or image: Factur-X embeds the XML into the "
        "visible invoice, so pass it with --pdf FILE."
    )
