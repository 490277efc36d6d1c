"""The settings a batch job is collected with: stored at submission, used or checked at every look."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.errors import ConfigurationError

if TYPE_CHECKING:
    from invoiceai.backends.claude.batch.session import BatchSession
    from invoiceai.extractor.batch_state import JobMeta
    from invoiceai.extractor.pipeline import Pipeline

__all__ = ["check_setup", "holder_gone", "job_options", "lease_owner", "pipeline_for"]


def job_options(pipeline: Pipeline, session: BatchSession) -> dict[str, Any]:
    """Returns the settings that change a result, to store with a job at submission.

    Raises:
        ConfigurationError: ``validation_context`` is not plain JSON data (it could not be stored).
    """
    context = pipeline.validation_context
    if context is not None and json.loads(json.dumps(context, default=str)) != dict(context):
        raise ConfigurationError(
            "A batch job stores its validation_context, so it must be plain JSON data (strings, numbers, "
            f"booleans, lists, dicts); got {context!r}."
        )
    backend = pipeline.backend
    return {
        "prefer_embedded": pipeline.prefer_embedded, "cross_check": pipeline.cross_check,
        "validation_context": None if context is None else dict(context),
        "max_attempts": session.max_attempts, "max_reasks": session.max_reasks, "token_budget": session.token_budget,
        "mode": getattr(backend, "mode", None), "detail": getattr(backend, "detail", None),
    }  # fmt: skip


def pipeline_for(pipeline: Pipeline, options: Mapping[str, Any]) -> Pipeline:
    """Returns ``pipeline`` with a job's stored settings (a job stored before they were kept: as is)."""
    if not options:
        return pipeline
    return dataclasses.replace(
        pipeline, prefer_embedded=bool(options.get("prefer_embedded")),
        cross_check=bool(options.get("cross_check")), validation_context=options.get("validation_context"),
    )  # fmt: skip


def check_setup(meta: JobMeta, fingerprint: str, session: BatchSession) -> None:
    """Refuses to collect a job with a backend set up otherwise than the one it was submitted with.

    Raises:
        ConfigurationError: Another model, mode or detail (the fingerprint, its prompt version aside),
            ``max_reasks`` or ``token_budget``.
    """
    if _without_prompt(meta.fingerprint) != _without_prompt(fingerprint):
        raise ConfigurationError(
            f"Batch job {meta.id} was submitted with a different backend setup ({meta.fingerprint}); collect it "
            f"with the same model and mode (this extractor: {fingerprint})."
        )
    for name in ("max_reasks", "token_budget"):
        stored, here = meta.options.get(name), getattr(session, name)
        if stored is not None and here is not None and stored != here:
            raise ConfigurationError(
                f"Batch job {meta.id} was submitted with {name}={stored}, this backend has {name}={here}: the "
                f"job would not decide as it did. Collect it with Settings({name}={stored}) (the CLI does so)."
            )


def _without_prompt(fingerprint: str) -> str:
    # A newer invoiceai may have a newer prompt: the answers already paid for stay good, and the
    # requests still to send go with the new prompt (each document rebuilt differently says so in
    # its warnings). Refusing the collect would strand a paid job.
    return re.sub(r";prompt=[^;]*", "", fingerprint)


def lease_owner() -> str:
    """Returns a new lease owner: ``host/pid/random``, so that :func:`holder_gone` can judge it."""
    return f"{socket.gethostname()}/{os.getpid()}/{os.urandom(8).hex()}"


def holder_gone(holder: str) -> bool:
    """Tells whether a lease holder is a process of this machine that no longer runs (killed, say)."""
    host, _, rest = holder.partition("/")
    pid_text = rest.partition("/")[0]
    if os.name != "posix" or host != socket.gethostname() or not pid_text.isdigit():
        return False  # elsewhere (or not knowable): its lease runs out on its own
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
