"""The error a command gives when an optional extra it needs is not installed."""

from __future__ import annotations

from invoiceai.errors import MissingDependencyError

__all__ = ["server_extra_missing"]


def server_extra_missing(command: str, exc: ModuleNotFoundError) -> MissingDependencyError:
    """The error for ``invoiceai COMMAND`` run without the ``server`` extra: one line naming the fix.

    Args:
        command: The subcommand (``serve``, ``worker``, ``keys``).
        exc: The failed import, whose ``name`` is the missing module.

    Returns:
        The error, ready to raise ``from exc``.
    """
    return MissingDependencyError(
        f'invoiceai {command} needs the server extra ({exc.name} is missing): pip install "invoiceai-claude[server]"',
        extra="server",
    )
