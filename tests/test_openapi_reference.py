"""The service's API reference (docs/reference/service-api.md and openapi.json) is generated and current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
STALE = "is out of date: run python scripts/openapi_reference.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_reference", ROOT / "scripts" / "openapi_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def described(script: ModuleType) -> dict[str, Any]:
    result: dict[str, Any] = script.spec()
    return result


def test_the_page_is_generated_from_the_current_app(script: ModuleType, described: dict[str, Any]) -> None:
    page = (ROOT / "docs" / "reference" / "service-api.md").read_text(encoding="utf-8")
    assert page == script.render(described), f"docs/reference/service-api.md {STALE}"


def test_the_json_is_the_current_openapi_description(script: ModuleType, described: dict[str, Any]) -> None:
    text = (ROOT / "docs" / "reference" / "openapi.json").read_text(encoding="utf-8")
    assert text == script.render_json(described), f"docs/reference/openapi.json {STALE}"
    assert json.loads(text)["info"]["version"] == "v1"  # not the package's version: a release changes nothing


def test_the_page_names_every_operation_schema_and_problem_type(described: dict[str, Any]) -> None:
    from invoiceai.server.problems import LIBRARY_ERRORS

    page = (ROOT / "docs" / "reference" / "service-api.md").read_text(encoding="utf-8")
    for path, item in described["paths"].items():
        for method in item:
            assert f"## `{method.upper()} {path}`" in page, (method, path)
    for name in described["components"]["schemas"]:
        assert f"### {name}\n" in page, name
    for _, _, slug in LIBRARY_ERRORS:
        assert f"`urn:invoiceai:problem:{slug}`" in page, slug
    for slug in ("unauthorized", "not-found", "method-not-allowed", "invalid-request", "rate-limited"):
        assert f"`urn:invoiceai:problem:{slug}`" in page, slug


def test_the_page_is_in_the_docs_navigation() -> None:
    assert "reference/service-api.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_a_changed_route_makes_the_page_stale(script: ModuleType, described: dict[str, Any]) -> None:
    changed = json.loads(json.dumps(described))
    changed["paths"]["/v1/jobs/{job_id}"]["get"]["description"] = "Something else."
    assert script.render(changed) != script.render(described)
