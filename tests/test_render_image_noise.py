"""Pillow's own log records about a damaged image stay off stderr inside invoiceai's calls."""

from __future__ import annotations

import io
import logging
import struct

import pytest
from PIL import Image

from invoiceai.documents import Document
from invoiceai.errors import CorruptDocumentError
from invoiceai.pages import ImageBudget
from invoiceai.render import open_document
from invoiceai.render.noise import LOGGER_NAME


def tiff_claiming_samples(samples: int) -> bytes:
    """An RGB TIFF whose SamplesPerPixel tag claims ``samples``: Pillow logs an ERROR, then refuses it."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    directory = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, directory)[0]):
        offset = directory + 2 + 12 * entry
        if struct.unpack_from("<H", data, offset)[0] == 277:  # SamplesPerPixel, as one LONG
            struct.pack_into("<HHII", data, offset, 277, 4, 1, samples)
            return bytes(data)
    raise AssertionError("Pillow wrote no SamplesPerPixel tag")


def test_pillows_error_record_goes_to_our_logger_not_stderr(caplog: pytest.LogCaptureFixture) -> None:
    # With no logging configured, the record would reach Python's last-resort handler (stderr);
    # the suite's own check fails any test that lets a record get there.
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    with pytest.raises(CorruptDocumentError):
        list(open_document(Document.from_bytes(tiff_claiming_samples(26372), name="fax.tif")).render(ImageBudget()))
    ours = [record.getMessage() for record in caplog.records if record.name == LOGGER_NAME]
    assert any(message.startswith("fax.tif: Pillow: More samples per pixel") for message in ours)
    assert not [record for record in caplog.records if record.name.startswith("PIL")]


@pytest.mark.allow_stderr  # the record this test makes Pillow log is meant to reach the last-resort handler
def test_outside_our_calls_pillow_logs_as_before(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(tiff_claiming_samples(26372)))
    assert any(record.name == "PIL.TiffImagePlugin" for record in caplog.records)
