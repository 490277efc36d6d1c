"""schemathesis against the running API: at least 500 generated requests, no 5xx, every answer as documented.

The API runs embedded (uvicorn on 127.0.0.1, in-process workers, a fake backend); schemathesis runs
as its own process (its command line, deterministic generation) with an API key. Every check runs
except ``positive_data_acceptance``: it expects any request the schema allows to be accepted, and
an OpenAPI schema cannot say which bytes are a document (random bytes in ``file`` are a 415 by
design). And except ``use_after_free``: ``DELETE /v1/jobs/{id}`` cancels a job, which stays
readable with status ``canceled`` (documented), where the check expects a 404.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from documents_factory import example_invoice
from invoiceai.extractor import Extractor
from invoiceai.testing import FakeBackend
from server_helpers import new_key, serving, settings_for

pytestmark = pytest.mark.slow

MIN_CASES = 500


def schemathesis_command() -> list[str]:
    executable = Path(sys.executable).with_name("schemathesis")
    if executable.exists():
        return [str(executable)]
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        pytest.skip("schemathesis is not installed (it is in the project's test environment)")
    return [found]


def test_the_api_answers_every_generated_request_as_its_openapi_says(tmp_path: Path) -> None:
    command = schemathesis_command()
    extractor = Extractor(backend=FakeBackend(default=example_invoice()), cache=None)
    reports = tmp_path / "reports"
    with serving(settings_for(tmp_path, workers=2, max_wait_seconds=1), extractor=extractor) as (server, context):
        key = new_key(context)[1]
        finished = subprocess.run(
            [
                *command, "run", f"{server.base_url}/openapi.json", "--header", f"Authorization: Bearer {key}",
                "--checks", "all", "--exclude-checks", "positive_data_acceptance,use_after_free",
                "--max-examples", "30",
                "--generation-deterministic", "--request-timeout", "30", "--continue-on-failure",
                "--report", "json", "--report-dir", str(reports), "--warnings", "off", "--no-color",
            ],
            capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,  # its cache goes there
        )  # fmt: skip
    report = json.loads(next(reports.glob("*.json")).read_text())
    assert finished.returncode == 0, finished.stdout[-8000:] + finished.stderr[-2000:]
    assert report["failures"] == [] and report["errors"] == []
    assert report["test_cases"]["generated"] >= MIN_CASES, report["test_cases"]
    assert report["operations"]["tested"] == report["operations"]["selected"] >= 9
