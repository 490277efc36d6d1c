"""Lazy re-exports (PEP 562) for packages whose public names live in heavier modules.

A package lists ``name -> defining module`` and gets a module ``__getattr__`` that imports the
module on first access and caches the value in the package namespace, so later lookups cost
nothing. Names that moved elsewhere can be listed too: they still resolve, with a
``DeprecationWarning`` that gives the new import path.

Example:
    ```python
    __getattr__, __dir__ = lazy_exports(__name__, globals(), {"Invoice": "invoiceai.schema"}, __all__)
    ```
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    names: Mapping[str, str],
    public: Iterable[str],
    *,
    moved: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Builds a package's ``__getattr__`` and ``__dir__``.

    Args:
        package: The package's ``__name__``, for error messages.
        namespace: The package's ``globals()``; resolved names are cached there.
        names: Public name -> module that defines it.
        public: The package's ``__all__``, listed by ``dir()``.
        moved: Deprecated name -> its new module; access warns and returns the new object,
            uncached, so every use warns.

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level.
    """
    relocated = dict(moved or {})
    listed = tuple(public)

    def __getattr__(name: str) -> Any:
        new_home = relocated.get(name)
        if new_home is not None:
            warnings.warn(
                f"{package}.{name} is deprecated: import it from {new_home} "
                f"(from {new_home} import {name}); the old name will be removed.",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(new_home), name)
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(listed))

    return __getattr__, __dir__
