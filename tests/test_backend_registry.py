"""Backends by name: the built-in one and entry-point plugins go through the same registration."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from invoiceai.backends import (
    Backend,
    ClaudeBackend,
    backend_names,
    create_backend,
    get_backend_factory,
    load_plugins,
    register_backend,
    unregister_backend,
)
from invoiceai.backends import registry as registry_module
from invoiceai.errors import ConfigurationError
from invoiceai.testing import FakeBackend


def test_claude_is_registered_by_reference_and_built_lazily() -> None:
    assert "claude" in backend_names()
    assert registry_module._factories["claude"] == "invoiceai.backends.claude:ClaudeBackend"
    backend = create_backend("claude", model="claude-opus-5")
    assert isinstance(backend, ClaudeBackend)
    assert isinstance(backend, Backend)
    assert backend.model == "claude-opus-5"
    assert backend.fingerprint() != create_backend("claude", model="claude-sonnet-5").fingerprint()


def test_register_callable_and_reference() -> None:
    register_backend("fake-test", FakeBackend)
    register_backend("fake-ref", "invoiceai.testing.fake_backend:FakeBackend")
    try:
        assert isinstance(create_backend("fake-test"), FakeBackend)
        assert get_backend_factory("fake-ref") is FakeBackend
        with pytest.raises(ConfigurationError, match="already registered"):
            register_backend("fake-test", FakeBackend)
        register_backend("fake-test", FakeBackend, replace=True)
    finally:
        unregister_backend("fake-test")
        unregister_backend("fake-ref")
    with pytest.raises(ConfigurationError, match="No backend named 'fake-test'"):
        create_backend("fake-test")


def test_bad_references_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="module:attribute"):
        register_backend("broken", "no_colon_here")
    register_backend("broken", "invoiceai.nowhere:Thing")
    try:
        with pytest.raises(ConfigurationError, match="could not be loaded"):
            create_backend("broken")
    finally:
        unregister_backend("broken")


def test_entry_point_plugins_load_only_on_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real installed distribution on sys.path, as pip would leave it.
    (tmp_path / "demo_plugin.py").write_text(
        textwrap.dedent(
            """
            from invoiceai.testing import FakeBackend

            class DemoBackend(FakeBackend):
                name = "demo"
            """
        )
    )
    dist = tmp_path / "demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[invoiceai.backends]\ndemo = demo_plugin:DemoBackend\nclaude = demo_plugin:DemoBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry_module, "_plugins_loaded", False)
    try:
        assert "demo" not in backend_names()
        with pytest.raises(ConfigurationError, match="load_plugins=True"):
            create_backend("demo")
        backend = create_backend("demo", load_plugins=True)
        assert type(backend).__name__ == "DemoBackend"
        assert "demo" in backend_names()
        # A plugin cannot take over a built-in name.
        assert isinstance(create_backend("claude"), ClaudeBackend)
        assert load_plugins() == []  # already registered
    finally:
        unregister_backend("demo")
        sys.modules.pop("demo_plugin", None)
