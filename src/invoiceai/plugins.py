"""One plugin mechanism: an instance registry of named factories.

Backends (:class:`~invoiceai.backends.registry.BackendRegistry`) and caches
(:class:`~invoiceai.cache.registry.CacheRegistry`) are :class:`PluginRegistry` subclasses; the
renderer registry (:class:`~invoiceai.render.registry.RendererRegistry`) follows the same shape.
The rules they share:

- There is no global registry. Whoever needs one owns an instance, usually from the subclass's
  ``with_builtins()`` classmethod, so a test that registers something never leaks into another.
- A factory is a callable taking keyword options, or a ``"module:attribute"`` reference to one
  that is imported on first use. Built-ins are registered as references, exactly what a
  third-party package declares as an entry point::

      # the plugin's pyproject.toml
      [project.entry-points."invoiceai.backends"]
      mymodel = "mypackage.backend:MyBackend"

- Entry points are read only when asked (:meth:`PluginRegistry.load_entry_points`, or
  ``with_builtins(entry_points=True)``), so installing a package never changes what an existing
  program runs.
- Every mistake (a taken name, a malformed reference, a plugin that does not import, a factory
  that returns the wrong kind of object) is a :class:`~invoiceai.errors.ConfigurationError`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from invoiceai.errors import ConfigurationError

__all__ = ["Factory", "PluginRegistry"]

T = TypeVar("T")
R = TypeVar("R", bound="PluginRegistry[Any]")

Factory = Callable[..., Any]
"""A plugin factory: any callable taking keyword options (a class works)."""


class PluginRegistry(Generic[T]):
    """Named factories of one kind of plugin.

    A subclass says what its plugins are with four class attributes: :attr:`kind`,
    :attr:`group`, :attr:`protocol` and :attr:`builtins`.

    Example:
        ```python
        registry = BackendRegistry.with_builtins()
        registry.register("mine", "mypackage.backend:MyBackend")
        backend = registry.create("mine", model="my-model")
        ```
    """

    kind: ClassVar[str] = "plugin"
    """What the plugins are, for messages (``"backend"``, ``"cache"``)."""
    group: ClassVar[str | None] = None
    """The entry-point group third-party plugins are published under, if any."""
    protocol: ClassVar[type | None] = None
    """A runtime-checkable protocol (or class) every created object must satisfy."""
    builtins: ClassVar[Mapping[str, str]] = {}
    """The built-in plugins: name -> ``"module:attribute"``, as an entry point declares them."""

    def __init__(self) -> None:
        self._factories: dict[str, Factory | str] = {}
        # Registration usually happens at start-up, but an Extractor shared between threads may
        # create plugins while another thread registers one.
        self._lock = threading.Lock()

    @classmethod
    def with_builtins(cls: type[R], *, entry_points: bool = False) -> R:
        """Returns a new registry holding the built-in plugins, registered by reference.

        Args:
            entry_points: Also register the plugins published under the entry-point group.

        Returns:
            The registry.

        Raises:
            ConfigurationError: With ``entry_points``, a plugin claims a name already taken.
        """
        registry = cls()
        for name, reference in cls.builtins.items():
            registry.register(name, reference)
        if entry_points:
            registry.load_entry_points()
        return registry

    def register(self, name: str, factory: Factory | str, *, replace: bool = False) -> None:
        """Registers ``factory`` under ``name``.

        Args:
            name: The name users pass to :meth:`create`.
            factory: A callable taking keyword options and returning a plugin, or a
                ``"module:attribute"`` reference to one (imported when first needed).
            replace: Allow replacing an existing registration.

        Raises:
            ConfigurationError: ``name`` is empty or taken (and ``replace`` is false), or
                ``factory`` is neither callable nor a well-formed reference.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"A {self.kind} needs a non-empty name, not {name!r}.")
        _check_factory(self.kind, name, factory)
        with self._lock:
            if name in self._factories and not replace:
                raise ConfigurationError(
                    f"A {self.kind} named {name!r} is already registered; pass replace=True to replace it."
                )
            self._factories[name] = factory

    def unregister(self, name: str) -> None:
        """Removes the registration of ``name`` (no error if there is none)."""
        with self._lock:
            self._factories.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted."""
        with self._lock:
            return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._factories

    def reference(self, name: str) -> Factory | str:
        """Returns what is registered under ``name`` as given: a callable or a reference string.

        Raises:
            ConfigurationError: Nothing is registered under ``name``.
        """
        with self._lock:
            factory = self._factories.get(name)
        if factory is None:
            raise ConfigurationError(self._unknown_message(name))
        return factory

    def get(self, name: str) -> Factory:
        """Returns the factory registered under ``name``, importing it if it is a reference.

        Raises:
            ConfigurationError: Nothing is registered under ``name``, or its reference does not
                import or is not callable.
        """
        factory = self.reference(name)
        if not isinstance(factory, str):
            return factory
        return _import_reference(self.kind, name, factory)

    def create(self, name: str, /, **options: Any) -> T:
        """Builds the plugin registered under ``name``.

        Args:
            name: A registered name.
            **options: Passed to the factory as keyword arguments.

        Returns:
            The plugin.

        Raises:
            ConfigurationError: ``name`` is unknown, its reference does not import, or the factory
                returned something that is not a plugin of this kind. Errors the factory itself
                raises (a missing API key, a missing extra) propagate unchanged.
        """
        made = self.get(name)(**options)
        if self.protocol is not None and not isinstance(made, self.protocol):
            raise ConfigurationError(
                f"The {self.kind} factory {name!r} returned {type(made).__name__}, "
                f"which is not a {self.protocol.__name__}."
            )
        return made  # type: ignore[no-any-return]

    def load_entry_points(self, *, group: str | None = None, replace: bool = False) -> list[str]:
        """Registers the plugins installed packages publish under an entry-point group.

        Each entry point is registered as its ``"module:attribute"`` reference, so nothing is
        imported until the plugin is created. Loading twice is harmless.

        Args:
            group: The entry-point group (default: this registry's).
            replace: Let plugins take over names already registered (built-ins included).

        Returns:
            The names newly registered, sorted.

        Raises:
            ConfigurationError: No group is known, or a plugin claims a taken name (without
                ``replace=True``).
        """
        from importlib.metadata import entry_points

        group = group or self.group
        if group is None:
            raise ConfigurationError(f"The {self.kind} registry has no entry-point group; pass group=.")
        added: list[str] = []
        for entry_point in sorted(entry_points(group=group), key=lambda point: point.name):
            reference = f"{entry_point.module}:{entry_point.attr}"
            with self._lock:
                current = self._factories.get(entry_point.name)
            if current == reference:
                continue  # the same plugin, loaded before
            if current is not None and not replace:
                raise ConfigurationError(
                    f"The {self.kind} plugin {entry_point.name!r} ({reference}) claims a name that is taken by "
                    f"{_describe(current)}; pass replace=True to let it take over, or uninstall the plugin."
                )
            self.register(entry_point.name, reference, replace=replace)
            added.append(entry_point.name)
        return added

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.names())})"

    def _unknown_message(self, name: str) -> str:
        known = ", ".join(self.names()) or "none"
        hint = ""
        if self.group is not None:
            hint = f" Third-party {self.kind}s are loaded from {self.group!r} by with_builtins(entry_points=True)."
        return f"No {self.kind} named {name!r}; registered: {known}.{hint}"


def _check_factory(kind: str, name: str, factory: object) -> None:
    if isinstance(factory, str):
        module_name, colon, attribute = factory.partition(":")
        if not (colon and module_name.strip() and attribute.strip()):
            raise ConfigurationError(f"The {kind} reference {factory!r} must look like 'module:attribute'.")
    elif not callable(factory):
        raise ConfigurationError(f"The {kind} {name!r} needs a callable or a 'module:attribute' reference.")


def _import_reference(kind: str, name: str, reference: str) -> Factory:
    module_name, _, attribute = reference.partition(":")
    try:
        loaded: Any = importlib.import_module(module_name.strip())
        for part in attribute.strip().split("."):
            loaded = getattr(loaded, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"The {kind} {name!r} ({reference}) could not be loaded: {exc}") from exc
    if not callable(loaded):
        raise ConfigurationError(f"The {kind} {name!r} ({reference}) is not callable.")
    return loaded  # type: ignore[no-any-return]


def _describe(factory: Factory | str) -> str:
    if isinstance(factory, str):
        return factory
    return f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"
