"""Backends by name.

A backend is registered as a factory: a callable returning a :class:`~invoiceai.backends.base.Backend`,
or a ``"module:attribute"`` reference to one, imported on first use. The built-in ``claude``
backend is registered below with such a reference, which is exactly what a third-party package
declares as an entry point::

    # the plugin's pyproject.toml
    [project.entry-points."invoiceai.backends"]
    mymodel = "mypackage.backend:MyBackend"

Entry points are not scanned on import: call :func:`load_plugins` (or pass ``load_plugins=True``)
to opt in, so that installing a package never changes what an existing program runs.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from invoiceai.backends.base import Backend
from invoiceai.errors import ConfigurationError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "backend_names",
    "create_backend",
    "get_backend_factory",
    "load_plugins",
    "register_backend",
    "unregister_backend",
]

logger = logging.getLogger("invoiceai.backends")

ENTRY_POINT_GROUP = "invoiceai.backends"

BackendFactory = Callable[..., Backend]

_lock = threading.Lock()
_factories: dict[str, BackendFactory | str] = {}
_plugins_loaded = False


def register_backend(name: str, factory: BackendFactory | str, *, replace: bool = False) -> None:
    """Registers a backend factory under ``name``.

    Args:
        name: The name users pass to :func:`create_backend`.
        factory: A callable taking keyword arguments and returning a backend, or a
            ``"module:attribute"`` reference to one (imported when first needed).
        replace: Allow replacing an existing registration.

    Raises:
        ConfigurationError: ``name`` is taken (and ``replace`` is false) or the reference is malformed.
    """
    if isinstance(factory, str) and ":" not in factory:
        raise ConfigurationError(f"Backend reference {factory!r} must look like 'module:attribute'.")
    with _lock:
        if name in _factories and not replace:
            raise ConfigurationError(f"A backend named {name!r} is already registered; pass replace=True to replace.")
        _factories[name] = factory


def unregister_backend(name: str) -> None:
    """Removes a registration (no error if absent)."""
    with _lock:
        _factories.pop(name, None)


def load_plugins() -> list[str]:
    """Registers the backends that installed packages declare in the ``invoiceai.backends`` group.

    Names that are already registered are kept (a plugin cannot replace a built-in); loading
    twice is harmless.

    Returns:
        The names newly registered.
    """
    global _plugins_loaded
    from importlib.metadata import entry_points

    added = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        with _lock:
            if entry_point.name in _factories:
                if _factories[entry_point.name] != entry_point.value:
                    logger.debug("backend plugin %r ignored: the name is taken", entry_point.name)
                continue
            _factories[entry_point.name] = entry_point.value
        added.append(entry_point.name)
    _plugins_loaded = True
    return added


def _ensure_plugins() -> None:
    if not _plugins_loaded:
        load_plugins()


def backend_names(*, load_plugins: bool = False) -> list[str]:
    """Returns the registered backend names, sorted.

    Args:
        load_plugins: Load entry-point plugins first.
    """
    if load_plugins:
        _ensure_plugins()
    with _lock:
        return sorted(_factories)


def get_backend_factory(name: str, *, load_plugins: bool = False) -> BackendFactory:
    """Returns the factory registered under ``name``, importing it if it is a reference.

    Raises:
        ConfigurationError: No such backend, or its reference does not import.
    """
    if load_plugins:
        _ensure_plugins()
    with _lock:
        factory = _factories.get(name)
    if factory is None:
        known = ", ".join(sorted(_factories)) or "none"
        hint = "" if load_plugins else " (third-party backends need load_plugins=True)"
        raise ConfigurationError(f"No backend named {name!r}; registered: {known}{hint}.")
    if not isinstance(factory, str):
        return factory
    module_name, _, attribute = factory.partition(":")
    try:
        loaded: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            loaded = getattr(loaded, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"Backend {name!r} ({factory}) could not be loaded: {exc}") from exc
    if not callable(loaded):
        raise ConfigurationError(f"Backend {name!r} ({factory}) is not callable.")
    return loaded  # type: ignore[no-any-return]


def create_backend(name: str = "claude", /, *, load_plugins: bool = False, **options: Any) -> Backend:
    """Builds the backend registered under ``name`` with ``options``.

    Args:
        name: Registered backend name.
        load_plugins: Load entry-point plugins first.
        **options: Passed to the factory (for ``claude``: see :class:`~invoiceai.backends.claude.ClaudeBackend`).

    Returns:
        The backend.
    """
    return get_backend_factory(name, load_plugins=load_plugins)(**options)


# The built-in backend, registered exactly as a plugin's entry point would be.
register_backend("claude", "invoiceai.backends.claude:ClaudeBackend")
