"""Log records that show no secret: :class:`MaskingFilter` and :func:`get_logger`."""

from __future__ import annotations

import logging
import traceback

from invoiceai.secrets.masking import mask_text

__all__ = ["MaskingFilter", "get_logger"]


class MaskingFilter(logging.Filter):
    """Masks every record of the logger it is attached to: message, arguments, traceback and stack.

    A record whose text holds no secret is left as it is (its ``msg`` template and ``args``
    intact); one that does gets the masked text as ``msg``, no ``args``, and its traceback
    pre-formatted and masked in ``exc_text`` (``exc_info`` cleared, so no handler formats the
    original again).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Masks ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format is the handler's to report
            message = str(record.msg)
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            masked = mask_text(text)
            if masked != text:
                record.exc_info, record.exc_text = None, masked
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    """Returns ``logging.getLogger(name)`` with a :class:`MaskingFilter` attached (once).

    Every logger of invoiceai comes from here. A filter on a logger applies to the records
    logged through that very logger (not its children), so each name is protected on its own.

    Args:
        name: The logger's name (``invoiceai.backends``; also a dependency's, such as
            ``anthropic._base_client``, whose debug records may quote what a server sent).
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
