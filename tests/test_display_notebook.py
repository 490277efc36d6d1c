"""Notebook HTML looks right under the front ends' own table CSS (issue 15, point 7).

JupyterLab right-aligns every table cell and stripes rows with selectors more specific than a
scoped stylesheet's, so the rendering carries its alignment and colours as inline styles. The
browser test renders it under JupyterLab's and classic Notebook's rules, copied verbatim into
``scripts/notebook_render_check.py`` with their source named, and reads the computed styles.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from invoiceai import ExtractionFailure
from invoiceai.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def _check_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "notebook_render_check", ROOT / "scripts" / "notebook_render_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_cell_carries_its_alignment_inline() -> None:
    extraction, _ = _check_script().sample_outputs()
    cells = re.findall(r"<t[dh]\b[^>]*>", extraction)
    assert len(cells) > 30
    assert all(re.search(r'style="[^"]*text-align:(left|right)', cell) for cell in cells), cells
    assert '<td class="num" style="' in extraction  # amounts right, by the inline style


def test_finding_rows_colour_their_cells_inline() -> None:
    extraction, _ = _check_script().sample_outputs()
    for severity, colour in (("error", "#fde2e1"), ("warning", "#fff4d6"), ("info", "#e8f0fe")):
        row = re.search(rf'<tr class="{severity}">(.*?)</tr>', extraction)
        assert row is not None, severity
        cells = re.findall(r"<td\b[^>]*>", row.group(1))
        assert cells and all(f"background:{colour}" in cell for cell in cells), severity


def test_a_failure_names_its_path_once() -> None:
    quoted = ExtractionFailure(error=InputError("No such file: scans/a.pdf. Check the path."), source="scans/a.pdf")
    assert quoted._repr_html_().count("scans/a.pdf") == 1
    unquoted = ExtractionFailure(error=InputError("The file is damaged."), source="scans/a.pdf")
    page = unquoted._repr_html_()
    assert page.count("scans/a.pdf") == 1
    assert "scans/a.pdf: The file is damaged." in page


def test_jupyterlab_and_classic_notebook_css_do_not_win_in_chromium(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="the browser check needs playwright")
    script = _check_script()
    if script.chromium_path() is None:
        pytest.skip("no Chromium at /usr/bin/chromium (or INVOICEAI_CHROMIUM): apt-get install chromium")
    styles = script.computed_styles(tmp_path / "notebook.png")
    assert set(styles) == {"jupyterlab", "classic"}
    for front_end, probe in styles.items():
        assert probe["description"]["textAlign"] == "left", front_end
        assert probe["seller"]["textAlign"] == "left", front_end
        assert probe["header"]["textAlign"] == "left", front_end
        assert probe["amount"]["textAlign"] == "right", front_end
        assert probe["error"]["background"] == "rgb(253, 226, 225)", front_end
        assert probe["warning"]["background"] == "rgb(255, 244, 214)", front_end
        assert probe["info"]["background"] == "rgb(232, 240, 254)", front_end
        assert probe["failure"] == "InputError No such file: missing.pdf. Check the path.", front_end
    assert (tmp_path / "notebook.png").stat().st_size > 10_000
