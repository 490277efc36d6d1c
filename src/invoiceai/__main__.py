"""``python -m invoiceai``: the same command line as ``invoiceai``."""

import sys

from invoiceai.cli import main

sys.exit(main())
