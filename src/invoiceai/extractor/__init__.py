"""The facade: :class:`Extractor` and what it returns."""

from invoiceai.extractor.extractor import Extractor
from invoiceai.extractor.result import Extraction, ExtractionFailure, Origin, Timings
from invoiceai.extractor.schedule import BatchItem

__all__ = ["BatchItem", "Extraction", "ExtractionFailure", "Extractor", "Origin", "Timings"]
