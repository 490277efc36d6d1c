"""The import rules of docs/architecture.md, checked on the source with ``ast``.

Every module under ``src/invoiceai`` is parsed (never imported) and each of its ``import`` statements
is resolved to the module it loads. The rules:

- **Layers.** A top-level package (or module) may import only the packages :data:`ALLOWED` lists
  for it, besides itself. Imports under ``if TYPE_CHECKING:`` do not count: they never run.
- **No cycles** between modules, counting module-level and function-level imports (not the
  ``TYPE_CHECKING`` ones). ``from a.b import c`` is an edge to ``a.b.c`` when ``c`` is a module,
  else to ``a.b``; importing a package is an edge to its ``__init__``.
- **einvoice is pure XML:** it imports no PDF or image library, anywhere (function level and
  ``TYPE_CHECKING`` included).
- **schema imports nothing of ours above it,** except the function-level imports in
  :data:`UPWARD_SHIMS`, each with its reason.
- **Private stays private:** no module imports another module's ``_name``, and a private module
  (``invoiceai._pdfium``, ``invoiceai.render.pdf._lock``) is imported only from inside the package
  that holds it (a top-level private module: from nowhere). ``_version`` is public in this sense.

The checker is a plain function over a source directory, so the self-tests at the end feed it
small synthetic trees with one broken rule each and assert that it is reported.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "invoiceai"
PACKAGE = "invoiceai"

BOTTOM = frozenset(
    {"errors", "config", "pages", "usage", "schema", "plugins", "secrets", "lazy", "closing", "_version"}
)
"""The bottom layer: value types, rules and settings, with no I/O."""

_EVERYTHING_BUT_CLI = frozenset(
    BOTTOM | {"einvoice", "documents", "render", "backends", "cache", "display", "testing", "extractor", "provenance"}
)
ANY = frozenset(_EVERYTHING_BUT_CLI | {"cli", "server", "evaluation", ""})

ALLOWED: dict[str, frozenset[str]] = {
    # "" is the top package, invoiceai/__init__.py: it imports the exceptions and the version
    # eagerly (both cheap), and the lazy-export helper; everything else lazily, by name.
    "": frozenset({"errors", "_version", "lazy"}),
    "__main__": ANY,
    "errors": frozenset({"secrets"}),
    "_version": frozenset(),
    "lazy": frozenset(),
    "closing": frozenset(),
    "config": frozenset({"errors"}),
    "pages": frozenset({"errors"}),
    "usage": frozenset({"errors"}),
    "plugins": frozenset({"errors"}),
    "secrets": frozenset(),
    "schema": frozenset({"errors", "config", "pages", "usage"}),
    "einvoice": frozenset({"schema", "errors", "lazy"}),
    "documents": BOTTOM,
    "render": BOTTOM | {"documents", "einvoice"},
    "backends": BOTTOM,
    "cache": BOTTOM,
    "display": BOTTOM,
    "provenance": BOTTOM,
    "testing": BOTTOM | {"backends"},
    "extractor": _EVERYTHING_BUT_CLI,
    "cli": ANY,
    # The service is a layer above the extractor, like the CLI; it reuses the CLI's result writer
    # (cli.output) so a job's result is byte for byte what `invoiceai extract` prints.
    "server": _EVERYTHING_BUT_CLI | {"cli"},
    # Evaluation runs documents through the extractor and compares the results with labels: a
    # layer above the extractor, beside the service; the CLI's `eval` command sits on top of it.
    "evaluation": _EVERYTHING_BUT_CLI,
}
"""Which top-level packages each top-level package (or module) may import."""

PDF_AND_IMAGE_LIBRARIES = frozenset({"pypdfium2", "pypdf", "PIL", "pillow_heif"})
"""What ``einvoice`` never imports: PDF and image code lives under ``render/pdf``."""

UPWARD_SHIMS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("invoiceai.schema.invoice", "Invoice.to_xml"): (
        frozenset({"einvoice"}),
        "deprecated shim for invoiceai.einvoice.to_xml(invoice); kept for compatibility, removed later",
    ),
    ("invoiceai.schema.invoice", "Invoice.to_facturx"): (
        frozenset({"einvoice", "render"}),
        "deprecated shim for the Factur-X writer next to the PDF code; kept for compatibility, removed later",
    ),
}
"""The only imports from ``schema`` upwards: (module, function) -> (packages it may import, why)."""

PUBLIC_PRIVATE_MODULES = frozenset({"_version"})
"""Underscore modules every module may import."""


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module (or one name from a module), as the importing module's source says.

    Attributes:
        importer: The importing module, dotted (a package is named by its ``__init__``).
        target: The module that is loaded, dotted; for third-party imports the top-level name.
        name: For ``from target import name`` where ``name`` is not a module, that name.
        line: Line number, for messages.
        function: The enclosing function's qualified name (``Class.method``), ``None`` at module level.
        type_checking: Under ``if TYPE_CHECKING:``.
    """

    importer: str
    target: str
    name: str | None
    line: int
    function: str | None
    type_checking: bool

    @property
    def ours(self) -> bool:
        return self.target == PACKAGE or self.target.startswith(PACKAGE + ".")

    def where(self) -> str:
        place = f" in {self.function}()" if self.function else ""
        return f"{self.importer} (line {self.line}{place})"


def module_names(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Maps every module's dotted name to its file (``pkg/__init__.py`` is named ``pkg``)."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package, *parts])] = path
    return names


class _Collector(ast.NodeVisitor):
    """Collects the imports of one module with their context (function, TYPE_CHECKING)."""

    def __init__(self, module: str, is_package: bool, modules: set[str]) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.modules = modules
        self.scopes: list[tuple[str, bool]] = []  # (name, is a function)
        self.type_checking = 0
        self.found: list[Import] = []

    def _function(self) -> str | None:
        if not any(is_function for _, is_function in self.scopes):
            return None
        return ".".join(name for name, _ in self.scopes)

    def _scoped(self, node: ast.AST, name: str, is_function: bool) -> None:
        self.scopes.append((name, is_function))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name, False)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name, True)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node, node.name, True)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not guarded:
            self.generic_visit(node)
            return
        self.type_checking += 1
        for child in node.body:
            self.visit(child)
        self.type_checking -= 1
        for child in node.orelse:
            self.visit(child)

    def _add(self, target: str, name: str | None, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, name, node.lineno, self._function(), self.type_checking > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            # `import a.b.c` loads a.b.c (and its parents, which are not counted as edges).
            ours = alias.name == PACKAGE or alias.name.startswith(PACKAGE + ".")
            self._add(alias.name if ours else alias.name.split(".")[0], None, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
            self._add(base.split(".")[0], None, node)
            return
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.modules:
                self._add(submodule, None, node)
            else:
                self._add(base, alias.name, node)


def collect_imports(root: Path, package: str = PACKAGE) -> list[Import]:
    """Parses every module under ``root`` (the package directory) and returns its imports."""
    modules = module_names(root, package)
    found: list[Import] = []
    for name, path in modules.items():
        collector = _Collector(name, path.name == "__init__.py", set(modules))
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found.extend(collector.found)
    return found


def layer(module: str) -> str:
    """The top-level package (or module) a module belongs to; ``""`` for the top package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _shim(item: Import) -> tuple[frozenset[str], str] | None:
    if item.function is None:
        return None
    return UPWARD_SHIMS.get((item.importer, item.function))


def layer_violations(imports: list[Import]) -> Iterator[str]:
    """Imports that cross the layers in a direction :data:`ALLOWED` does not list."""
    for item in imports:
        if not item.ours or item.type_checking:
            continue
        source, target = layer(item.importer), layer(item.target)
        if source not in ALLOWED:
            yield f"{item.importer} is in no layer: add {source!r} to ALLOWED in tests/test_architecture.py"
            continue
        if source == target or target in ALLOWED[source]:
            continue
        shim = _shim(item)
        if shim is not None and target in shim[0]:
            continue
        shown = ", ".join(sorted(ALLOWED[source])) or "nothing of ours"
        yield f"{item.where()} imports {item.target}: {source or 'the top package'} may import only {shown}"


def einvoice_violations(imports: list[Import]) -> Iterator[str]:
    """PDF or image libraries imported anywhere in ``einvoice``."""
    for item in imports:
        if layer(item.importer) == "einvoice" and item.target in PDF_AND_IMAGE_LIBRARIES:
            yield f"{item.where()} imports {item.target}: einvoice is pure XML (PDF code lives under render/pdf)"


def private_violations(imports: list[Import]) -> Iterator[str]:
    """Private names of other modules, and private modules from outside their package."""
    for item in imports:
        if not item.ours:
            continue
        if item.name is not None and item.name.startswith("_") and not item.name.startswith("__"):
            yield f"{item.where()} imports the private name {item.name} from {item.target}"
        parts = item.target.split(".")
        private = [index for index, part in enumerate(parts) if part.startswith("_") and index > 0]
        if not private or parts[private[0]] in PUBLIC_PRIVATE_MODULES:
            continue
        owner = ".".join(parts[: private[0]])
        if owner == PACKAGE:  # invoiceai._x belongs to no package but itself
            owner = ".".join(parts[: private[0] + 1])
        if item.importer != owner and not item.importer.startswith(owner + "."):
            yield f"{item.where()} imports the private module {item.target} from outside {owner}"


def edges(imports: list[Import]) -> dict[str, set[str]]:
    """The import graph between our modules that cycles are looked for in."""
    graph: dict[str, set[str]] = {}
    for item in imports:
        if item.ours and not item.type_checking and item.target != item.importer and _shim(item) is None:
            graph.setdefault(item.importer, set()).add(item.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_violations(imports: list[Import]) -> Iterator[str]:
    """One message per import cycle, naming the imports that close it."""
    graph = edges(imports)
    for component in cycles(graph):
        members = set(component)
        links = sorted(
            {
                f"{item.where()} -> {item.target}"
                for item in imports
                if item.importer in members
                and item.target in members
                and not item.type_checking
                and _shim(item) is None
            }
        )
        yield f"import cycle between {', '.join(component)}: " + "; ".join(links)


def violations(root: Path = SOURCE) -> dict[str, list[str]]:
    """Every broken rule under ``root``, by rule."""
    imports = collect_imports(root)
    return {
        "layers": list(layer_violations(imports)),
        "cycles": list(cycle_violations(imports)),
        "einvoice": list(einvoice_violations(imports)),
        "private": list(private_violations(imports)),
    }


def _report(found: list[str]) -> str:
    return "\n".join(["", *found])


# --- the rules, on the real tree ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> dict[str, list[str]]:
    assert SOURCE.is_dir(), SOURCE
    return violations()


def test_every_package_imports_only_the_layers_below_it(found: dict[str, list[str]]) -> None:
    assert found["layers"] == [], _report(found["layers"])


def test_no_import_cycles_between_modules(found: dict[str, list[str]]) -> None:
    assert found["cycles"] == [], _report(found["cycles"])


def test_einvoice_imports_no_pdf_or_image_library(found: dict[str, list[str]]) -> None:
    assert found["einvoice"] == [], _report(found["einvoice"])


def test_no_private_imports_across_modules(found: dict[str, list[str]]) -> None:
    assert found["private"] == [], _report(found["private"])


def test_the_upward_shims_still_exist() -> None:
    # An allow-list entry whose function is gone would silently allow its name back later.
    imports = collect_imports(SOURCE)
    functions = {(item.importer, item.function) for item in imports}
    stale = [f"{module}:{function}" for module, function in UPWARD_SHIMS if (module, function) not in functions]
    assert stale == [], f"remove these from UPWARD_SHIMS: {stale}"


def test_every_top_level_package_has_a_layer() -> None:
    layers = {layer(name) for name in module_names(SOURCE)}
    assert layers - set(ALLOWED) == set()


# --- the checker can fail ----------------------------------------------------------------------------


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """Writes a synthetic ``invoiceai`` package: {relative path: source}."""
    root = tmp_path / PACKAGE
    for relative, text in {"__init__.py": "", **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {
    "errors.py": "class InvoiceAIError(Exception): ...\n",
    "schema/__init__.py": "from invoiceai.schema.invoice import Invoice\n",
    "schema/invoice.py": (
        "from invoiceai.errors import InvoiceAIError\n"
        "class Invoice:\n"
        "    def to_xml(self):\n"
        "        from invoiceai.einvoice import to_xml\n"
        "        return to_xml(self)\n"
    ),
    "einvoice/__init__.py": "from invoiceai.einvoice.writer import to_xml\n",
    "einvoice/writer.py": "from lxml import etree\nfrom invoiceai.schema import Invoice\ndef to_xml(invoice): ...\n",
    "render/pdf/__init__.py": "from invoiceai.render.pdf.document import open_pdf\n",
    "render/pdf/_lock.py": "import threading\nLOCK = threading.Lock()\n",
    "render/pdf/document.py": (
        "from typing import TYPE_CHECKING\n"
        "from invoiceai.render.pdf._lock import LOCK\n"
        "from invoiceai import _version\n"
        "if TYPE_CHECKING:\n"
        "    from invoiceai.extractor import Extractor\n"
        "def open_pdf():\n"
        "    import pypdfium2\n"
    ),
    "extractor/__init__.py": "from invoiceai.render.pdf import open_pdf\nfrom invoiceai.schema import Invoice\n",
    "_version.py": "__version__ = '0'\n",
}


def test_a_clean_synthetic_tree_passes(tmp_path: Path) -> None:
    assert violations(tree(tmp_path, CLEAN)) == {"layers": [], "cycles": [], "einvoice": [], "private": []}


@pytest.mark.parametrize(
    ("rule", "files", "expected"),
    [
        pytest.param(
            "layers",
            {"schema/totals.py": "from invoiceai.render.pdf import open_pdf\n"},
            "invoiceai.schema.totals (line 1) imports invoiceai.render.pdf: schema may import only",
            id="schema-imports-render",
        ),
        pytest.param(
            "layers",
            {"documents/load.py": "def load():\n    from invoiceai.backends import Backend\n"},
            "invoiceai.documents.load (line 2 in load()) imports invoiceai.backends: documents may import only",
            id="a-function-level-import-counts",
        ),
        pytest.param(
            "layers",
            {
                "schema/invoice.py": CLEAN["schema/invoice.py"] + "    def _repr_html_(self):\n"
                "        from invoiceai.display import html\n"
            },
            "invoiceai.schema.invoice (line 7 in Invoice._repr_html_()) imports invoiceai.display",
            id="an-upward-import-outside-the-allow-list",
        ),
        pytest.param(
            "layers",
            {"schema/invoice.py": CLEAN["schema/invoice.py"].replace("invoiceai.einvoice", "invoiceai.cache")},
            "invoiceai.schema.invoice (line 4 in Invoice.to_xml()) imports invoiceai.cache",
            id="an-allow-listed-function-importing-something-else",
        ),
        pytest.param(
            "layers",
            {"gadgets.py": "from invoiceai.errors import InvoiceAIError\n"},
            "invoiceai.gadgets is in no layer",
            id="a-new-top-level-module",
        ),
        pytest.param(
            "cycles",
            {
                "render/a.py": "from invoiceai.render import b\n",
                "render/b.py": "def f():\n    from invoiceai.render.a import g\n",
            },
            "import cycle between invoiceai.render.a, invoiceai.render.b",
            id="a-cycle-through-a-function-level-import",
        ),
        pytest.param(
            "cycles",
            {
                "schema/rules.py": "from invoiceai.schema.invoice import Invoice\n",
                "schema/invoice.py": "from invoiceai.schema.rules import check\n",
            },
            "import cycle between invoiceai.schema.invoice, invoiceai.schema.rules",
            id="a-cycle-inside-one-package",
        ),
        pytest.param(
            "einvoice",
            {"einvoice/attachments.py": "def read():\n    import pypdfium2 as pdfium\n"},
            "invoiceai.einvoice.attachments (line 2 in read()) imports pypdfium2: einvoice is pure XML",
            id="einvoice-imports-pdfium",
        ),
        pytest.param(
            "einvoice",
            {"einvoice/writer.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from PIL import Image\n"},
            "invoiceai.einvoice.writer (line 3) imports PIL",
            id="even-under-type-checking",
        ),
        pytest.param(
            "private",
            {"extractor/steps.py": "from invoiceai.render.pdf.document import _page_count\n"},
            "invoiceai.extractor.steps (line 1) imports the private name _page_count from invoiceai.render.pdf.doc",
            id="a-private-name",
        ),
        pytest.param(
            "private",
            {"_pdfium.py": "LOCK = None\n", "render/pdf/raster.py": "from invoiceai._pdfium import LOCK\n"},
            "invoiceai.render.pdf.raster (line 1) imports the private module invoiceai._pdfium from outside",
            id="a-top-level-private-module",
        ),
        pytest.param(
            "private",
            {"extractor/steps.py": "from invoiceai.render.pdf import _lock\n"},
            "imports the private module invoiceai.render.pdf._lock from outside invoiceai.render.pdf",
            id="a-private-module-of-another-package",
        ),
    ],
)
def test_each_broken_rule_is_reported(tmp_path: Path, rule: str, files: dict[str, str], expected: str) -> None:
    found = violations(tree(tmp_path, {**CLEAN, **files}))
    assert any(expected in message for message in found[rule]), found


def test_a_forbidden_import_added_to_the_real_tree_is_reported(tmp_path: Path) -> None:
    # The acceptance check of issue 9: the real source plus one forbidden import fails the test.
    copy = tmp_path / PACKAGE
    for path in SOURCE.rglob("*.py"):
        target = copy / path.relative_to(SOURCE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    before = violations(copy)
    errors = copy / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\nfrom invoiceai.cache import Cache  # noqa\n")
    after = violations(copy)
    added = set(after["layers"]) - set(before["layers"])
    assert any("invoiceai.errors" in message and "invoiceai.cache" in message for message in added), added


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    root = tree(tmp_path, {**CLEAN, "schema/parts.py": "from ..render import pdf\nfrom . import invoice\n"})
    targets = {item.target for item in collect_imports(root) if item.importer == "invoiceai.schema.parts"}
    assert targets == {"invoiceai.render.pdf", "invoiceai.schema.invoice"}


if __name__ == "__main__":  # `python tests/test_architecture.py` prints what the rules find
    for rule, messages in violations().items():
        print(f"{rule}: {len(messages)}")
        for message in messages:
            print(f"  {message}")
    sys.exit(0)
