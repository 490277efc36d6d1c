"""Documents the render and document tests generate themselves: PDFs (plain, rotated, scanned,
OCR-sandwiched, encrypted, with form XObjects) and images in every mode.

The PDF writer emits plain PDF syntax, so each fixture states exactly what is in the file; it
can encrypt with the standard security handler (RC4, 128-bit, revision 3) to test passwords
without the shared corpus.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct

import pytest
from PIL import Image, ImageDraw

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
_PERMISSIONS = -3904  # print, copy and extract allowed; the value itself is irrelevant here


@dataclasses.dataclass
class XImage:
    """An image XObject: JPEG bytes shown with DCTDecode."""

    jpeg: bytes
    width: int
    height: int
    grey: bool = False


@dataclasses.dataclass
class XForm:
    """A form XObject with its own content and images."""

    content: str
    bbox: tuple[float, float, float, float]
    images: dict[str, XImage] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class PdfPage:
    """One page: its size, /Rotate, content operators and resources."""

    content: str = ""
    width: float = 612
    height: float = 792
    rotate: int | None = None
    images: dict[str, XImage] = dataclasses.field(default_factory=dict)
    forms: dict[str, XForm] = dataclasses.field(default_factory=dict)


def build_pdf(
    pages: list[PdfPage],
    *,
    user_password: str | None = None,
    owner_password: str | None = None,
    inherited_rotate: int | None = None,
) -> bytes:
    """Writes a PDF with the given pages; encrypted (RC4-128) when a password is given."""
    objects: list[bytes | None] = []

    def reserve() -> int:
        objects.append(None)
        return len(objects)

    def put(number: int, body: bytes) -> None:
        objects[number - 1] = body

    font = reserve()
    put(font, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    pages_id = reserve()
    streams: dict[int, bytes] = {}

    def stream_object(entries: bytes, data: bytes) -> int:
        """``entries`` are the stream dictionary's keys, without ``<<``, ``>>`` and /Length."""
        number = reserve()
        streams[number] = data
        put(number, entries)
        return number

    def image_object(image: XImage) -> int:
        colour = b"/DeviceGray" if image.grey else b"/DeviceRGB"
        entries = b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8" % (
            image.width,
            image.height,
            colour,
        )
        return stream_object(entries + b" /Filter /DCTDecode", image.jpeg)

    kids = []
    for page in pages:
        xobjects = {name: image_object(image) for name, image in page.images.items()}
        for name, form in page.forms.items():
            inner = {key: image_object(image) for key, image in form.images.items()}
            inner_refs = b" ".join(b"/%s %d 0 R" % (key.encode(), number) for key, number in inner.items())
            entries = (
                b"/Type /XObject /Subtype /Form /BBox [%s] /Resources << /XObject << %s >> /Font << /F1 %d 0 R >> >>"
                % (
                    " ".join(f"{value:g}" for value in form.bbox).encode(),
                    inner_refs,
                    font,
                )
            )
            xobjects[name] = stream_object(entries, form.content.encode("latin-1"))
        content = stream_object(b"", page.content.encode("latin-1"))
        refs = b" ".join(b"/%s %d 0 R" % (name.encode(), number) for name, number in xobjects.items())
        rotate = b"" if page.rotate is None else b" /Rotate %d" % page.rotate
        kid = reserve()
        put(
            kid,
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s]%s /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> /XObject << %s >> >> >>"
            % (pages_id, f"{page.width:g}".encode(), f"{page.height:g}".encode(), rotate, content, font, refs),
        )
        kids.append(kid)
    inherited = b"" if inherited_rotate is None else b" /Rotate %d" % inherited_rotate
    put(
        pages_id,
        b"<< /Type /Pages /Kids [%s] /Count %d%s >>"
        % (b" ".join(b"%d 0 R" % kid for kid in kids), len(kids), inherited),
    )
    catalog = reserve()
    put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)

    file_id = hashlib.md5(b"invoiceai-test-%d" % len(objects)).digest()
    key = None
    encrypt_ref = b""
    if user_password is not None or owner_password is not None:
        user = (user_password or "").encode("latin-1")
        owner = (owner_password or user_password or "").encode("latin-1")
        owner_entry = _owner_entry(owner, user)
        key = _file_key(user, owner_entry, file_id)
        user_entry = _user_entry(key, file_id)
        encrypt = reserve()
        put(
            encrypt,
            b"<< /Filter /Standard /V 2 /R 3 /Length 128 /O <%s> /U <%s> /P %d >>"
            % (owner_entry.hex().encode(), user_entry.hex().encode(), _PERMISSIONS),
        )
        encrypt_ref = b" /Encrypt %d 0 R" % encrypt

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        assert body is not None
        offsets.append(len(out))
        if number in streams:
            data = streams[number]
            if key is not None:
                data = _rc4(_object_key(key, number), data)
            dictionary = b"<< %s /Length %d >>" % (body, len(data))
            out += b"%d 0 obj\n%s\nstream\n" % (number, dictionary) + data + b"\nendstream\nendobj\n"
        else:
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R%s /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        encrypt_ref,
        file_id.hex().encode(),
        file_id.hex().encode(),
        xref,
    )
    return bytes(out)


def text_ops(lines: list[str], *, x: float = 72, top: float = 720, size: float = 14, mode: int = 0) -> str:
    """Content operators drawing ``lines`` in Helvetica (text render mode 3 is invisible)."""
    ops = [f"BT /F1 {size:g} Tf {mode} Tr {x:g} {top:g} Td {size * 1.3:g} TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    return "\n".join(ops)


def invoice_page(number: int = 1, *, colour: bool = False, rotate: int | None = None) -> PdfPage:
    """A black-on-white invoice page (with a red banner when ``colour``)."""
    lines = [f"Invoice INV-{number:04d}", "Seller: Northwind GmbH", "Total due: 123.45 EUR"]
    ops = []
    if colour:
        ops.append("1 0 0 rg 36 740 540 30 re f 0 0 0 rg")
    ops.append("0 0 0 rg 36 700 m 576 700 l S")
    ops.append(text_ops(lines, top=680))
    return PdfPage(content="\n".join(ops), rotate=rotate)


def corner_mark_page(*, rotate: int | None = None) -> PdfPage:
    """A page with one black square near the top-left corner of its unrotated MediaBox."""
    return PdfPage(content="0 0 0 rg 36 656 100 100 re f", rotate=rotate)


def photo_jpeg(width: int, height: int, *, grey: bool = False, quality: int = 85) -> bytes:
    """A noisy, photograph-like JPEG (noise does not compress, like a real photo)."""
    noise = Image.effect_noise((width, height), 60)
    if grey:
        image = noise
    else:
        gradient = Image.linear_gradient("L").resize((width, height))
        image = Image.merge("RGB", (noise, gradient, noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 10, height // 10, width // 2, height // 5), fill=0 if grey else (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def scanned_page(*, ocr_text: list[str] | None = None) -> PdfPage:
    """A full-page scan (one image), optionally with an invisible OCR layer on top."""
    jpeg = photo_jpeg(850, 1100)
    content = "q 612 0 0 792 0 0 cm /Im0 Do Q"
    if ocr_text:
        content += "\n" + text_ops(ocr_text, mode=3)
    return PdfPage(content=content, images={"Im0": XImage(jpeg, 850, 1100)})


def document_image(size: tuple[int, int] = (1200, 1600), *, mode: str = "RGB", colour: bool = False) -> Image.Image:
    """A document-like image (white paper, black text lines) in ``mode``."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width, height = size
    for row in range(8, height - 8, max(12, height // 40)):
        draw.line((width // 12, row, width - width // 12, row), fill=(0, 0, 0), width=max(1, height // 400))
    if colour:
        draw.rectangle((0, 0, width, max(2, height // 12)), fill=(200, 30, 30))
    return image.convert(mode) if mode != "RGB" else image


def encode_image(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Saves ``image`` to bytes in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """Encodes ``image`` with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode_image(image, fmt, exif=exif.tobytes())


# --- RC4 standard security handler, revision 3 (PDF 1.7, 7.6.3) --------------------------------------


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _padded(password: bytes) -> bytes:
    return (password + _PAD)[:32]


def _owner_entry(owner: bytes, user: bytes) -> bytes:
    digest = hashlib.md5(_padded(owner)).digest()
    for _ in range(50):
        digest = hashlib.md5(digest).digest()
    result = _rc4(digest, _padded(user))
    for round_number in range(1, 20):
        result = _rc4(bytes(byte ^ round_number for byte in digest), result)
    return result


def _file_key(user: bytes, owner_entry: bytes, file_id: bytes) -> bytes:
    digest = hashlib.md5(_padded(user) + owner_entry + struct.pack("<i", _PERMISSIONS) + file_id).digest()
    for _ in range(50):
        digest = hashlib.md5(digest[:16]).digest()
    return digest[:16]


def _user_entry(key: bytes, file_id: bytes) -> bytes:
    result = _rc4(key, hashlib.md5(_PAD + file_id).digest())
    for round_number in range(1, 20):
        result = _rc4(bytes(byte ^ round_number for byte in key), result)
    return result + b"\x00" * 16


def _object_key(key: bytes, number: int) -> bytes:
    return hashlib.md5(key + struct.pack("<i", number)[:3] + b"\x00\x00").digest()[: min(len(key) + 5, 16)]


@dataclasses.dataclass
class PdfParses:
    """How often each PDF library parsed a document's bytes (see :func:`count_pdf_parses`)."""

    pdfium: int = 0
    pypdf: int = 0


def count_pdf_parses(monkeypatch: pytest.MonkeyPatch) -> PdfParses:
    """Counts every PDF that pypdfium2 opens from bytes and every one pypdf parses, from now on.

    invoiceai imports both libraries' classes at the point of use, so patching the modules'
    attributes catches every parse (new, empty documents made for page subsets are not counted).
    """
    import pypdf
    import pypdfium2

    counts = PdfParses()
    pdfium_document = pypdfium2.PdfDocument
    pypdf_reader = pypdf.PdfReader

    class CountingPdfDocument(pdfium_document):  # type: ignore[misc, valid-type]
        def __init__(self, source: object, *args: object, **kwargs: object) -> None:
            if isinstance(source, bytes | bytearray | memoryview):
                counts.pdfium += 1
            super().__init__(source, *args, **kwargs)

    class CountingPdfReader(pypdf_reader):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            counts.pypdf += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pypdfium2, "PdfDocument", CountingPdfDocument)
    monkeypatch.setattr(pypdf, "PdfReader", CountingPdfReader)
    return counts
