"""A service process's background upkeep: durable webhooks and the retention purge, on one thread.

:func:`running` is the one hook the embedded API process (``app.py``) and each fleet worker
(``fleet.py``) call: it starts a :class:`~invoiceai.server.outbox.Deliverer` whose chore is a
:class:`~invoiceai.server.retention.Purger`, and stops it when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoiceai.server.outbox import Deliverer
from invoiceai.server.retention import Purger

if TYPE_CHECKING:
    from invoiceai.server.context import ServiceContext

__all__ = ["running"]


@contextlib.contextmanager
def running(context: ServiceContext) -> Iterator[Deliverer]:
    """Delivers the store's webhooks and purges what is past its retention while the block runs."""
    deliverer = Deliverer(context)
    # Stopping the deliverer stops a purge in progress after its chunk, before the engine is disposed.
    deliverer.chores = (Purger(context.engine, context.settings, stop=deliverer.stopping).maybe_run,)
    deliverer.start()
    try:
        yield deliverer
    finally:
        deliverer.stop()
