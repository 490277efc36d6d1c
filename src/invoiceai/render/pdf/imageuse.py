"""Which objects of a PDF pdfium only ever draws as images: the pre-scan's license to skip inflating them.

pdfium bounds a Flate image it draws (``Do`` of an image XObject, or that image's ``/SMask`` or
``/Mask``) by the rows its dictionary declares (see :mod:`invoiceai.render.pdf.scan`). The same
stream used anywhere else (a font's ``/FontFile2``, an annotation's ``/AP``, a tiling
``/Pattern``, a page's ``/Contents``) is inflated in full, whatever its dictionary says. So a
stream may go unchecked only when every reference to its object comes from an ``/XObject``
resources dictionary, an ``/SMask`` or a ``/Mask``.

References are counted in the file's bytes: every ``N G R`` anywhere (inside strings and other
streams' data too, so a look-alike counts against the object, never for it), and the allowed ones
are those that a direct ``/XObject << /Name N G R ... >>``, ``/SMask N G R`` or ``/Mask N G R``
spells, or an indirect ``/XObject N G R`` dictionary that is referenced only that way. A
reference written any other way (an escaped key name, a dictionary nested in another) counts as a
use elsewhere: the stream is inflated, as it would be without the sandbox. An
object with no reference in the file's bytes (one named only from inside an object stream, whose
bytes are compressed) is not known to be drawn, and is inflated too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoiceai.render.pdf.pdfsyntax import References

__all__ = ["ImageUses"]

# Whitespace, or a comment (pdfium skips both); a comment ends at its line's end, so the pattern
# matches any text one way only and cannot backtrack exponentially.
_SPACE = rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*[\r\n])"
_REFERENCE = re.compile(rb"(\d{1,10})" + _SPACE + rb"+\d{1,5}" + _SPACE + rb"+R")
# The same read backwards, so the search starts at the literal "R" (thirty times faster over a
# big file than starting at every digit). A reversed comment runs from its line end to its "%";
# the farthest "%" on the line is tried first, which is where a comment starts.
_REVERSED_SPACE = rb"(?:[\r\n][^\r\n]*%|[\x00\t\n\x0c\r ])"
_REVERSED_REFERENCE = re.compile(rb"R" + _REVERSED_SPACE + rb"+\d{1,5}" + _REVERSED_SPACE + rb"+(\d{1,10})")
_NAME = rb"/[^\x00\t\n\x0c\r /<>\[\]()%{}]*"
_MASK = re.compile(rb"/S?Mask" + _SPACE + rb"+(\d{1,10})" + _SPACE + rb"+\d{1,5}" + _SPACE + rb"+R")
_ENTRIES = (
    rb"<<((?:" + _SPACE + rb"*" + _NAME + _SPACE + rb"+\d{1,10}" + _SPACE + rb"+\d{1,5}" + _SPACE + rb"+R)*)"
    + _SPACE + rb"*>>"
)  # fmt: skip
_XOBJECTS = re.compile(rb"/XObject" + _SPACE + rb"*" + _ENTRIES)
_INDIRECT_XOBJECTS = re.compile(rb"/XObject" + _SPACE + rb"+(\d{1,10})" + _SPACE + rb"+(\d{1,5})" + _SPACE + rb"+R")
_DICTIONARY = re.compile(_SPACE + rb"*" + _ENTRIES)


class ImageUses:
    """The references of one PDF, sorted into uses as a drawn image and uses elsewhere.

    Args:
        data: The PDF bytes.
        references: The file's objects, to read an indirect ``/XObject`` dictionary.
        charge: Called with the bytes searched (the pre-scan's work budget).
    """

    def __init__(self, data: bytes, references: References, charge: Callable[[int], None]) -> None:
        charge(len(data))
        # Each reference is identified by where its "R" ends, so one spelled twice (an /SMask
        # inside an /XObject dictionary) is still one use.
        self._all: dict[int, set[int]] = defaultdict(set)
        for match in _REVERSED_REFERENCE.finditer(data[::-1]):
            self._all[int(match.group(1)[::-1])].add(len(data) - match.start())
        self._drawn: set[int] = {match.end() for match in _MASK.finditer(data)}
        for dictionary in _XOBJECTS.finditer(data):
            self._allow_entries(dictionary)
        # An indirect /XObject dictionary (Ghostscript writes them) is one too, when it is used
        # only as such: the same object as an /AP dictionary would make its entries appearances.
        indirect: dict[tuple[int, int], set[int]] = defaultdict(set)
        for found in _INDIRECT_XOBJECTS.finditer(data):
            indirect[int(found.group(1)), int(found.group(2))].add(found.end())
        for (number, generation), ends in indirect.items():
            start = references.offset(number, generation)
            body = _DICTIONARY.match(data, start) if start is not None else None
            if body is not None and self._all.get(number, set()) <= ends:
                self._allow_entries(body)

    def _allow_entries(self, dictionary: re.Match[bytes]) -> None:
        start = dictionary.start(1)
        self._drawn.update(start + match.end() for match in _REFERENCE.finditer(dictionary.group(1)))

    def only_drawn(self, number: int) -> bool:
        """Tells whether object ``number`` is referenced, and only as a drawn image or its mask."""
        uses = self._all.get(number)
        return uses is not None and bool(uses) and uses <= self._drawn
