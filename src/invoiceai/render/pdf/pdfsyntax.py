"""The PDF syntax the pre-scan reads: a dictionary's top-level entries, and indirect references.

:func:`top_level_entries` reads a stream's dictionary without recursion. :class:`References`
follows indirect references (``6 0 R``) in a stream's ``/Filter`` and ``/DecodeParms``.

A filter written as a reference (``/Filter [6 0 R /FlateDecode]``, object 6 being
``/ASCIIHexDecode``) is resolved by pdfium; a scan that guessed Flate for it would fail to
inflate the hex text, count nothing, and let the stream through. So the pre-scan looks the
object up: the file's object headers (``6 0 obj``) are indexed once, the first time a reference
must be followed, and the object's value is read up to a few dozen tokens. The last definition of
a number wins, as an incremental update would make it. An object the scan cannot find (inside an
object stream, say) stays unresolved, and the scan keeps assuming the worst for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["References", "resolve_tokens", "top_level_entries"]

_WS = rb"[\x00\t\n\x0c\r ]"
_HEADER = re.compile(rb"(?<!\d)(\d{1,10})" + _WS + rb"+(\d{1,5})" + _WS + rb"+\Z")
_VALUE_TOKEN = re.compile(rb"<<|>>|\[|\]|/[^\x00\t\n\x0c\r /<>\[\]()%{}]*|[^\x00\t\n\x0c\r /<>\[\]()%{}]+")
_TOKEN = re.compile(
    rb"<<|>>|\[|\]|<[^<>]*>|/[^\x00\t\n\x0c\r /<>\[\]()%{}]*|%[^\r\n]*|\(|[^\x00\t\n\x0c\r /<>\[\]()%{}]+"
)
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_MAX_DICT_TOKENS = 100_000
_MAX_TOKENS = 64


class References:
    """The objects of one PDF, found by number when a reference is followed.

    Args:
        data: The PDF bytes.
        charge: Called with the bytes searched (the pre-scan's work budget).
    """

    def __init__(self, data: bytes, charge: Callable[[int], None]) -> None:
        self._data = data
        self._charge = charge
        self._index: dict[tuple[int, int], int] | None = None

    def tokens(self, number: int, generation: int) -> list[bytes] | None:
        """Returns the first tokens of object ``number generation``'s value, or ``None`` when it is not found."""
        start = self.offset(number, generation)
        if start is None:
            return None
        found: list[bytes] = []
        for match in _VALUE_TOKEN.finditer(self._data, start, min(len(self._data), start + 4096)):
            token = match.group()
            if token in (b"endobj", b"stream") or len(found) >= _MAX_TOKENS:
                break
            found.append(token)
        return found

    def offset(self, number: int, generation: int) -> int | None:
        """Returns where object ``number generation``'s value starts (just past ``obj``), or ``None``."""
        return self._objects().get((number, generation))

    def _objects(self) -> dict[tuple[int, int], int]:
        if self._index is None:
            self._charge(len(self._data))
            index: dict[tuple[int, int], int] = {}
            position = 0
            while (found := self._data.find(b"obj", position)) >= 0:
                position = found + 3
                if self._data[position : position + 1].isalnum():
                    continue
                header = _HEADER.search(self._data, max(0, found - 24), found)
                if header is not None:
                    index[(int(header.group(1)), int(header.group(2)))] = position
            self._index = index
        return self._index


def resolve_tokens(tokens: list[bytes], references: References) -> list[bytes]:
    """Returns ``tokens`` with each ``N G R`` replaced by object N's own tokens (one level deep).

    A reference that cannot be followed is kept as it is, so the caller still sees an indirect value.
    """
    out: list[bytes] = []
    position = 0
    while position < len(tokens):
        triple = tokens[position : position + 3]
        if len(triple) == 3 and triple[2] == b"R" and triple[0].isdigit() and triple[1].isdigit():
            resolved = references.tokens(int(triple[0]), int(triple[1]))
            if resolved is not None and b"R" not in resolved:
                out.extend(resolved)
                position += 3
                continue
        out.append(tokens[position])
        position += 1
    return out


def top_level_entries(data: bytes, begin: int, end: int) -> tuple[dict[bytes, list[bytes]], int | None]:
    """Returns the top-level keys of the dictionary in ``data[begin:end]`` with their value tokens.

    The second item is the offset just past the dictionary's closing ``>>`` (``None`` when it
    does not close, or has more than ``_MAX_DICT_TOKENS`` tokens).

    Iterative, so a dictionary nested 500,000 deep costs time, never recursion; values that are
    arrays or dictionaries come back flattened (enough to read filter names and parameters).
    """
    entries: dict[bytes, list[bytes]] = {}
    depth = 0
    key: bytes | None = None
    position = begin
    tokens = 0
    while position < end and tokens < _MAX_DICT_TOKENS:
        match = _TOKEN.search(data, position, end)
        if match is None:
            break
        token, position = match.group(), match.end()
        tokens += 1
        if token == b"(":
            position = _skip_string(data, position, end)
            token = b"()"
        elif token.startswith(b"%"):
            continue
        elif token.startswith(b"/") and b"#" in token:
            token = _NAME_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), token)
        if token in (b"<<", b"["):
            depth += 1
            if depth > 1 and key is not None:
                entries[key].append(token)
            continue
        if token in (b">>", b"]"):
            depth -= 1
            if depth < 1:
                return entries, (position if token == b">>" and depth == 0 else None)
            if key is not None:
                entries[key].append(token)
            continue
        if depth == 1 and token.startswith(b"/") and (key is None or entries[key]):
            key = token
            entries[key] = []
        elif depth >= 1 and key is not None:
            entries[key].append(token)
    return entries, None


def _skip_string(data: bytes, position: int, end: int) -> int:
    nesting = 1
    while position < end and nesting:
        byte = data[position]
        if byte == 0x5C:  # backslash: the next byte is escaped
            position += 1
        elif byte == 0x28:
            nesting += 1
        elif byte == 0x29:
            nesting -= 1
        position += 1
    return position
