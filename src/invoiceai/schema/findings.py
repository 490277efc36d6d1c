"""Findings: what validation and normalisation report about an invoice.

A finding never stops anything. It is data the caller can show, store or act on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Finding", "Severity"]

Severity = Literal["error", "warning", "info"]
"""``error``: the invoice contradicts itself or a standard; ``warning``: likely wrong or lossy;
``info``: worth knowing, nothing to fix."""


class Finding(BaseModel):
    """One problem found in an invoice.

    Attributes:
        rule: Stable rule id: an EN 16931 business rule (``BR-CO-10``) or one of ours (``IAI-...``).
        severity: How serious it is.
        message: A sentence a person can act on, with the numbers involved.
        fields: Dotted paths of the fields involved (``line_items[2].amount``).
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Severity
    message: str
    fields: tuple[str, ...] = Field(default=())

    def __str__(self) -> str:
        where = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"[{self.severity}] {self.rule}: {self.message}{where}"
