"""The renderer registry: which renderer opens which media type.

There is no global registry. Each :class:`~invoiceai.extractor.Extractor` (or caller) owns one,
usually from :meth:`RendererRegistry.with_builtins`. The built-in PDF and image renderers are
added with :meth:`RendererRegistry.register`, exactly as a third-party renderer is, and
third-party renderers published under the ``invoiceai.renderers`` entry-point group are loaded
only when asked (:meth:`RendererRegistry.load_entry_points`), never on import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from invoiceai.errors import ConfigurationError, UnsupportedFormatError
from invoiceai.render.base import Renderer

if TYPE_CHECKING:
    from invoiceai.config import Settings
    from invoiceai.documents import Document
    from invoiceai.pages import PageSource
    from invoiceai.render.selection import Pages

__all__ = ["ENTRY_POINT_GROUP", "RendererRegistry", "open_document"]

ENTRY_POINT_GROUP = "invoiceai.renderers"
"""The entry-point group third-party renderers are published under."""


class RendererRegistry:
    """Maps media types to renderers.

    Example:
        ```python
        registry = RendererRegistry.with_builtins(processes=4)
        registry.register(MyDocxRenderer())
        source = registry.open(document, pages="1-3")
        ```
    """

    def __init__(self) -> None:
        self._renderers: dict[str, Renderer] = {}

    @classmethod
    def with_builtins(
        cls, *, processes: int = 0, entry_points: bool = False, settings: Settings | None = None
    ) -> RendererRegistry:
        """Returns a new registry holding the PDF and image renderers.

        Args:
            processes: Worker processes for long PDFs (see
                :class:`~invoiceai.render.PdfRenderer`); ``0`` renders in this process.
            entry_points: Also load third-party renderers from the ``invoiceai.renderers``
                entry-point group.
            settings: Where the built-ins' limits come from (``max_pages``, ``max_stream_bytes``,
                ...); ``Settings.load()`` (defaults and ``INVOICEAI_*`` variables) when ``None``.

        Returns:
            The registry.
        """
        from invoiceai.render.image import ImageRenderer
        from invoiceai.render.limits import RenderLimits
        from invoiceai.render.pdf import PdfRenderer

        limits = RenderLimits.from_settings(settings)
        registry = cls()
        registry.register(PdfRenderer(processes=processes, limits=limits))
        registry.register(ImageRenderer(limits=limits))
        if entry_points:
            registry.load_entry_points()
        return registry

    def register(self, renderer: Renderer, *, replace: bool = False) -> None:
        """Adds a renderer for every media type it declares.

        Args:
            renderer: Any object with ``media_types`` and ``open()`` (see :class:`Renderer`).
            replace: Take over media types another renderer already has.

        Raises:
            ConfigurationError: ``renderer`` does not implement the protocol, declares no media
                types, or claims a taken media type without ``replace=True``.
        """
        if isinstance(renderer, type):
            raise ConfigurationError(f"Register an instance, not the class: {renderer.__name__}().")
        if not isinstance(renderer, Renderer):
            raise ConfigurationError(
                f"{renderer!r} is not a renderer: it needs a media_types attribute and an open() method."
            )
        media_types = sorted(renderer.media_types)
        if not media_types:
            raise ConfigurationError(f"{renderer!r} declares no media types.")
        if not replace:
            taken = [media_type for media_type in media_types if media_type in self._renderers]
            if taken:
                owner = self._renderers[taken[0]]
                raise ConfigurationError(
                    f"{type(owner).__name__} already renders {', '.join(taken)}; pass replace=True to use "
                    f"{type(renderer).__name__} instead."
                )
        for media_type in media_types:
            self._renderers[media_type] = renderer

    def unregister(self, media_type: str) -> None:
        """Removes the renderer for ``media_type`` (no error if there is none)."""
        self._renderers.pop(media_type, None)

    @property
    def media_types(self) -> tuple[str, ...]:
        """Every media type some renderer opens, sorted."""
        return tuple(sorted(self._renderers))

    def get(self, media_type: str) -> Renderer:
        """Returns the renderer for ``media_type``.

        Raises:
            UnsupportedFormatError: No renderer handles it (the message lists those that do).
        """
        renderer = self._renderers.get(media_type)
        if renderer is None:
            raise UnsupportedFormatError(self._unsupported_message(media_type))
        return renderer

    def open(self, document: Document, *, pages: Pages = None, password: str | None = None) -> PageSource:
        """Opens ``document`` with the renderer for its media type.

        Args:
            document: A loaded document.
            pages: Pages to render (``"1-3,7"``, a list of 1-based numbers, or ``None``).
            password: For encrypted PDFs.

        Returns:
            The page source.

        Raises:
            UnsupportedFormatError: No renderer handles the document's media type.
            InputError: Whatever the renderer raises (encrypted, damaged, bad selection, ...).
        """
        renderer = self._renderers.get(document.media_type)
        if renderer is None:
            raise UnsupportedFormatError(
                self._unsupported_message(document.media_type), document_id=document.document_id
            )
        return renderer.open(document, pages=pages, password=password)

    def load_entry_points(self, *, group: str = ENTRY_POINT_GROUP, replace: bool = False) -> list[str]:
        """Registers the renderers published under an entry-point group.

        Each entry point must name a renderer instance or a zero-argument callable returning
        one (a renderer class works).

        Args:
            group: The entry-point group.
            replace: Let plugins take over media types already registered (built-ins included).

        Returns:
            The names of the entry points loaded.

        Raises:
            ConfigurationError: A plugin fails to import, is not a renderer, or conflicts.
        """
        from importlib.metadata import entry_points

        loaded: list[str] = []
        for entry_point in sorted(entry_points(group=group), key=lambda point: point.name):
            try:
                target = entry_point.load()
                renderer = _instantiate(target)
            except ConfigurationError:
                raise
            except Exception as exc:
                raise ConfigurationError(
                    f"The renderer plugin {entry_point.name!r} ({entry_point.value}) failed to load: {exc}. "
                    "Reinstall or remove the plugin."
                ) from exc
            self.register(renderer, replace=replace)
            loaded.append(entry_point.name)
        return loaded

    def _unsupported_message(self, media_type: str) -> str:
        supported = ", ".join(self.media_types) or "none (register a renderer)"
        hint = ""
        if media_type in ("application/xml", "text/xml"):
            hint = " XML e-invoices are read directly (invoiceai.einvoice), not rendered."
        return (
            f"No renderer for {media_type}. Supported: {supported}.{hint} Convert the file to PDF or an image, or "
            "register a renderer for this type."
        )


def open_document(
    document: Document,
    *,
    pages: Pages = None,
    password: str | None = None,
    registry: RendererRegistry | None = None,
    settings: Settings | None = None,
) -> PageSource:
    """Opens a document for rendering with the built-in renderers (or a given registry).

    Args:
        document: A loaded document (see :func:`invoiceai.documents.load_document`).
        pages: Pages to render (``"1-3,7"``, a list of 1-based numbers, or ``None``).
        password: For encrypted PDFs.
        registry: The registry to use; a fresh :meth:`RendererRegistry.with_builtins` otherwise.
        settings: The limits of that fresh registry (ignored when ``registry`` is given).

    Returns:
        The page source.

    Raises:
        UnsupportedFormatError: No renderer handles the document's media type.
        InputError: Whatever the renderer raises (encrypted, damaged, bad selection, ...).
    """
    registry = registry or RendererRegistry.with_builtins(settings=settings)
    return registry.open(document, pages=pages, password=password)


def _instantiate(target: object) -> Renderer:
    if isinstance(target, Renderer) and not isinstance(target, type):
        return target
    if callable(target):
        factory: Callable[[], object] = target
        made = factory()
        if isinstance(made, Renderer):
            return made
        raise ConfigurationError(f"{target!r} returned {made!r}, which is not a renderer.")
    raise ConfigurationError(f"{target!r} is neither a renderer nor a callable that makes one.")
