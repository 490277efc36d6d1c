"""Backends by name: the built-in one and entry-point plugins go through the same registration."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoiceai.backends import (
    Backend,
    BackendRegistry,
    ClaudeBackend,
    backend_names,
    create_backend,
    get_backend_factory,
)
from invoiceai.errors import ConfigurationError
from invoiceai.extractor import Extractor
from invoiceai.testing import FakeBackend


def test_claude_is_registered_by_reference_and_built_lazily() -> None:
    registry = BackendRegistry.with_builtins()
    assert "claude" in registry.names()
    assert "claude" in backend_names()
    assert registry.reference("claude") == "invoiceai.backends.claude:ClaudeBackend"
    backend = registry.create("claude", model="claude-opus-5")
    assert isinstance(backend, ClaudeBackend)
    assert isinstance(backend, Backend)
    assert backend.model == "claude-opus-5"
    assert backend.fingerprint() != create_backend("claude", model="claude-sonnet-5").fingerprint()
    assert get_backend_factory("claude") is ClaudeBackend


def test_register_callable_and_reference() -> None:
    registry = BackendRegistry.with_builtins()
    registry.register("fake-test", FakeBackend)
    registry.register("fake-ref", "invoiceai.testing.fake_backend:FakeBackend")
    assert isinstance(registry.create("fake-test"), FakeBackend)
    assert registry.get("fake-ref") is FakeBackend
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register("fake-test", FakeBackend)
    registry.register("fake-test", FakeBackend, replace=True)
    registry.unregister("fake-test")
    registry.unregister("fake-ref")
    registry.unregister("never-registered")  # no error
    with pytest.raises(ConfigurationError, match="No backend named 'fake-test'"):
        registry.create("fake-test")


def test_registries_are_independent() -> None:
    # No process-wide state: what one registry learns, a fresh one does not know.
    mine = BackendRegistry.with_builtins()
    mine.register("fake-test", FakeBackend)
    assert "fake-test" not in BackendRegistry.with_builtins()
    assert "fake-test" not in backend_names()
    with pytest.raises(ConfigurationError, match="No backend named 'fake-test'"):
        create_backend("fake-test")


def test_bad_references_are_configuration_errors() -> None:
    registry = BackendRegistry()
    with pytest.raises(ConfigurationError, match="module:attribute"):
        registry.register("broken", "no_colon_here")
    with pytest.raises(ConfigurationError, match="callable"):
        registry.register("broken", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="non-empty name"):
        registry.register("", FakeBackend)
    registry.register("broken", "invoiceai.nowhere:Thing")
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        registry.create("broken")
    registry.register("constant", "invoiceai.backends.registry:ENTRY_POINT_GROUP")
    with pytest.raises(ConfigurationError, match="not callable"):
        registry.create("constant")


def test_a_factory_must_return_a_backend() -> None:
    registry = BackendRegistry()
    registry.register("not-a-backend", dict)
    with pytest.raises(ConfigurationError, match="returned dict, which is not a Backend"):
        registry.create("not-a-backend")


def test_the_extractor_takes_its_backends_from_a_registry() -> None:
    seen: dict[str, object] = {}

    def fake(**options: object) -> FakeBackend:
        seen.update(options)
        return FakeBackend()

    registry = BackendRegistry.with_builtins()
    registry.register("fake", fake)
    with Extractor(backend="fake", backends=registry, cache=None) as extractor:
        assert isinstance(extractor.backend, FakeBackend)
    assert set(seen) == {"model", "settings"}  # what the built-in backend is configured with
    with pytest.raises(ConfigurationError, match="No backend named 'fake'"):
        Extractor(backend="fake", cache=None)


@pytest.fixture
def demo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real installed distribution on sys.path, as pip would leave it, declaring ``demo``."""
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
    (dist / "entry_points.txt").write_text("[invoiceai.backends]\ndemo = demo_plugin:DemoBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield dist
    sys.modules.pop("demo_plugin", None)


def test_entry_point_plugins_load_only_on_opt_in(demo_plugin: Path) -> None:
    assert "demo" not in backend_names()
    with pytest.raises(ConfigurationError, match="entry_points=True"):
        create_backend("demo")
    assert "demo_plugin" not in sys.modules  # registered by reference, imported on first use
    backend = create_backend("demo", load_plugins=True)
    assert type(backend).__name__ == "DemoBackend"
    assert "demo" in backend_names(load_plugins=True)
    registry = BackendRegistry.with_builtins(entry_points=True)
    assert registry.reference("demo") == "demo_plugin:DemoBackend"
    assert isinstance(registry.create("claude"), ClaudeBackend)
    assert registry.load_entry_points() == []  # already registered


def test_a_plugin_cannot_take_over_a_built_in_name_unless_asked(demo_plugin: Path) -> None:
    (demo_plugin / "entry_points.txt").write_text("[invoiceai.backends]\nclaude = demo_plugin:DemoBackend\n")
    with pytest.raises(ConfigurationError, match="claims a name that is taken"):
        BackendRegistry.with_builtins(entry_points=True)
    registry = BackendRegistry.with_builtins()
    with pytest.raises(ConfigurationError, match="replace=True"):
        registry.load_entry_points()
    assert isinstance(registry.create("claude"), ClaudeBackend)
    assert registry.load_entry_points(replace=True) == ["claude"]
    assert type(registry.create("claude")).__name__ == "DemoBackend"
