"""invoiceai as a service: uploads, jobs, results and an audit trail over HTTP.

Install it with ``pip install "invoiceai-claude[server]"``.

A layer above :mod:`invoiceai.extractor`, like the command line: the library never imports it.
``invoiceai serve`` runs :func:`create_app` under uvicorn with a SQLite job store and in-process
workers; every worker, in-process or in a fleet, runs jobs through :func:`run_job`.
"""

from __future__ import annotations

from invoiceai.lazy import lazy_exports

__all__ = ["ServiceContext", "ServiceSettings", "create_app", "run_job"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "ServiceContext": "invoiceai.server.context",
        "ServiceSettings": "invoiceai.server.settings",
        "create_app": "invoiceai.server.app",
        "run_job": "invoiceai.server.runner",
    },
    __all__,
)
