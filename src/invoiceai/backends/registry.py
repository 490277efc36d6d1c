"""Backends by name: :class:`BackendRegistry`.

There is no global registry. Each :class:`~invoiceai.extractor.Extractor` (or caller) owns one,
usually from :meth:`BackendRegistry.with_builtins`. The built-in ``claude`` backend is
registered there with a ``"module:attribute"`` reference, which is exactly what a third-party
package declares as an entry point::

    # the plugin's pyproject.toml
    [project.entry-points."invoiceai.backends"]
    mymodel = "mypackage.backend:MyBackend"

Entry points are read only when asked (``with_builtins(entry_points=True)`` or
:meth:`BackendRegistry.load_entry_points`), so installing a package never changes what an
existing program runs. The mechanism is :class:`invoiceai.plugins.PluginRegistry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from invoiceai.backends.base import Backend
from invoiceai.plugins import Factory, PluginRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "BackendRegistry",
    "backend_names",
    "create_backend",
    "get_backend_factory",
]

ENTRY_POINT_GROUP = "invoiceai.backends"
"""The entry-point group third-party backends are published under."""

BackendFactory = Factory
"""A callable taking keyword options and returning a :class:`~invoiceai.backends.base.Backend`."""


class BackendRegistry(PluginRegistry[Backend]):
    """Maps names to backend factories.

    Example:
        ```python
        registry = BackendRegistry.with_builtins()
        registry.register("mine", "mypackage.backend:MyBackend")  # or a callable
        extractor = Extractor(backend="mine", backends=registry)
        ```
    """

    kind = "backend"
    group = ENTRY_POINT_GROUP
    protocol = Backend
    builtins: ClassVar[Mapping[str, str]] = {"claude": "invoiceai.backends.claude:ClaudeBackend"}


def backend_names(*, load_plugins: bool = False) -> list[str]:
    """Returns the names :meth:`BackendRegistry.with_builtins` registers, sorted.

    Args:
        load_plugins: Include the entry-point plugins.
    """
    return list(BackendRegistry.with_builtins(entry_points=load_plugins).names())


def get_backend_factory(name: str, *, load_plugins: bool = False) -> BackendFactory:
    """Returns the built-in (or, with ``load_plugins``, entry-point) factory named ``name``.

    Raises:
        ConfigurationError: No such backend, or its reference does not import.
    """
    return BackendRegistry.with_builtins(entry_points=load_plugins).get(name)


def create_backend(name: str = "claude", /, *, load_plugins: bool = False, **options: Any) -> Backend:
    """Builds a built-in (or, with ``load_plugins``, entry-point) backend.

    A shortcut for ``BackendRegistry.with_builtins(entry_points=load_plugins).create(name, **options)``;
    backends registered at run time live on a :class:`BackendRegistry` instance instead.

    Args:
        name: Backend name.
        load_plugins: Also consider entry-point plugins.
        **options: Passed to the factory (for ``claude``: see :class:`~invoiceai.backends.claude.ClaudeBackend`).

    Returns:
        The backend.
    """
    return BackendRegistry.with_builtins(entry_points=load_plugins).create(name, **options)
