"""The one lock every pdfium call in the process runs under.

pdfium is not thread-safe, not even across different documents, so every pypdfium2 call in
invoiceai (rendering, text layers, attachments, page subsets) holds this lock. Parallel
rendering uses processes, each with its own pdfium and its own copy of this lock.
"""

from __future__ import annotations

import threading

__all__ = ["PDFIUM_LOCK"]

PDFIUM_LOCK = threading.RLock()
"""Hold this around every pypdfium2 call, including closing documents and pages."""
