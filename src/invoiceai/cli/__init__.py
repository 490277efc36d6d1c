"""The ``invoiceai`` command line. The library never imports this package."""

from invoiceai.cli.main import main

__all__ = ["main"]
