"""The facade: :class:`Extractor` and what it returns."""

from invoiceai.extractor.extractor import Extractor
from invoiceai.extractor.result import Extraction, ExtractionFailure, Origin, Timings

__all__ = ["Extraction", "ExtractionFailure", "Extractor", "Origin", "Timings"]
