"""``invoiceai serve`` and ``invoiceai keys``, and a job's result against ``invoiceai extract``'s output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from documents_factory import example_invoice, png_invoice
from invoiceai.cli import main
from invoiceai.testing import FakeClaudeAPI
from server_helpers import client, serving, settings_for


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INVOICEAI_SERVER_DATABASE_URL", f"sqlite:///{tmp_path / 'service.sqlite3'}")


def fake_api() -> FakeClaudeAPI:
    return FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 1700, "output_tokens": 500}
    )


@pytest.mark.allow_stderr
def test_a_jobs_result_is_what_extract_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "scan.png"
    image.write_bytes(png_invoice())
    with fake_api().serve() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.chdir(tmp_path)  # the CLI names a result by the path it was given
        assert main(["extract", "scan.png", "--format", "json", "--no-cache", "--quiet"]) == 0
        printed = json.loads(capsys.readouterr().out)[0]
        with serving(settings_for(tmp_path, auth=False)) as (server, _):
            job = client(server).post("/v1/documents?wait=30", files={"file": ("scan.png", image.read_bytes())})
            result = client(server).get(f"/v1/jobs/{job.json()['id']}/result").json()
    assert job.json()["status"] == "succeeded"
    assert job.json()["usage"] == {"input_tokens": 1700, "output_tokens": 500, "cost_usd": printed["usage"]["cost_usd"]}
    assert list(result) == list(printed)
    result.pop("timings"), printed.pop("timings")  # seconds measured on each run
    assert result == printed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_invoiceai_serve_answers_with_nothing_else_running(tmp_path: Path) -> None:
    port = _free_port()
    with fake_api().serve() as fake:
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": fake.base_url}
        command = [sys.executable, "-m", "invoiceai", "serve", "--port", str(port), "--no-auth"]
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            seen = []
            for line in process.stderr:  # uvicorn says when it listens
                seen.append(line)
                if "Application startup complete" in line:
                    break
            assert process.poll() is None, "".join(seen)
            api = client_for(port)
            created = api.post("/v1/documents", files={"file": ("scan.png", png_invoice())})
            assert created.status_code == 202, created.text
            job = api.post("/v1/documents?wait=30", files={"file": ("scan.png", png_invoice())}).json()
            assert job["id"] == created.json()["id"]
            assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
        finally:
            process.terminate()
            process.communicate(timeout=60)
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert (tmp_path / "service.sqlite3").exists()


def client_for(port: int) -> object:
    import httpx2

    return httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)


@pytest.mark.allow_stderr
def test_no_auth_is_refused_off_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--no-auth"]) == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.allow_stderr
def test_keys_create_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--name", "ci", "--daily-quota", "10"]) == 0
    created = capsys.readouterr()
    secret = created.out.strip()
    assert secret.startswith("iai_")
    key_id = created.err.split()[2]
    assert main(["keys", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(key["id"], key["name"], key["daily_quota"], key["revoked_at"]) for key in listed] == [
        (key_id, "ci", 10, None)
    ]
    assert secret not in json.dumps(listed)
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "revoke", key_id]) == 1
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None


def test_the_command_line_does_not_import_the_service() -> None:
    code = (
        "import sys; from invoiceai.cli.main import build_parser; build_parser(); "
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'alembic', 'invoiceai.server'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert process.stdout.strip() == "[]"
