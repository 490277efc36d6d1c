"""The end of a run: failures on stderr, the summary line, and the exit status.

Exit status: 0 every document succeeded; 1 some failed (the others were written: partial
success, or nothing succeeded for reasons of the documents themselves); 2 a configuration
problem (no API key, say) failed every document, so nothing was done.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

from invoiceai.cli.hints import cli_message
from invoiceai.errors import ConfigurationError

__all__ = ["Tally", "exit_status", "print_failures"]


class Tally:
    """Counts the results of a run as they are written, for the summary line."""

    def __init__(self) -> None:
        self.documents = 0
        self.failed = 0
        self.einvoice = 0
        self.cached = 0
        self.requests = 0
        self.tokens = 0
        self.cost = Decimal(0)

    def add(self, result: Any) -> None:
        """Counts one :class:`~invoiceai.Extraction` or :class:`~invoiceai.ExtractionFailure`."""
        self.documents += 1
        usage = result.usage
        self.requests += usage.requests
        self.tokens += usage.total_input_tokens + usage.output_tokens
        self.cost += usage.cost_usd
        if not result.ok:
            self.failed += 1
        elif getattr(result, "cached", False):
            self.cached += 1
        elif result.origin == "einvoice":
            self.einvoice += 1

    def line(self) -> str:
        """``invoiceai: 3 documents: 2 succeeded, 1 failed; 1 from e-invoice, 0 from cache; ...``."""
        succeeded = self.documents - self.failed
        noun = "document" if self.documents == 1 else "documents"
        requests = "request" if self.requests == 1 else "requests"
        return (
            f"invoiceai: {self.documents} {noun}: {succeeded} succeeded, {self.failed} failed; "
            f"{self.einvoice} from e-invoice, {self.cached} from cache; {self.requests} {requests}, "
            f"{self.tokens:,} tokens, ${self.cost.quantize(Decimal('0.0001')):f}"
        )


def print_failures(failures: Sequence[Any], stream: TextIO | None = None) -> None:
    """Prints one line per failure (a configuration problem once), in CLI wording."""
    stream = sys.stderr if stream is None else stream
    configuration = {cli_message(f.error.message) for f in failures if isinstance(f.error, ConfigurationError)}
    for message in sorted(configuration):
        print(f"invoiceai: {message}", file=stream)
    for failure in failures:
        if not isinstance(failure.error, ConfigurationError):
            print(
                f"invoiceai: {failure.source}: {type(failure.error).__name__}: {cli_message(failure.error)}",
                file=stream,
            )


def exit_status(failures: Sequence[Any], documents: int) -> int:
    """0 all ok; 2 a configuration problem failed every document; else 1 when any failed."""
    if not failures:
        return 0
    if len(failures) == documents and any(isinstance(f.error, ConfigurationError) for f in failures):
        return 2
    return 1
