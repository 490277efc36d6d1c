"""The EN 16931 conformance material at ../shared/conformance, for tests.

Three things live here, shared by every test that measures invoiceai against the official rules:

* :func:`instances`: every whole invoice in the material (the CEN examples, the CEN test
  ``testfiles/`` and the KoSIT XRechnung business and technical cases) with its syntax;
* :func:`official_errors`: the fatal rule ids the official CEN Schematron gives for some XML,
  memoised on the bytes, so several tests can ask about the same file for the price of one run;
* :func:`cen_unit_cases`: the CEN unit tests (``cen/test/*-unit-UBL/*.xml``, ``cen/test/cii/*.xml``)
  as one :class:`CenCase` per expected outcome.

The material is located like the corpus (``tests/einvoice_corpus.py``): the
``INVOICEAI_CONFORMANCE`` environment variable, else ``../shared/conformance`` next to the
repository. Tests that need it skip with :data:`CONFORMANCE_SKIP_REASON` when it is absent; the
``*_params`` helpers do that for parametrised tests.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = Path(os.environ.get("INVOICEAI_CONFORMANCE", ROOT.parent / "shared" / "conformance"))
CONFORMANCE_SKIP_REASON = (
    f"the EN 16931 conformance material is not at {CONFORMANCE} (set INVOICEAI_CONFORMANCE to point at it); "
    "the project's own fixtures still run"
)

INSTANCE_DIRS = ("cen/cii/examples", "cen/ubl/examples", "cen/test/testfiles", "kosit")
UNIT_TEST_GLOBS = ("cen/test/Invoice-unit-UBL/*.xml", "cen/test/CreditNote-unit-UBL/*.xml", "cen/test/cii/*.xml")

Syntax = Literal["cii", "ubl-invoice", "ubl-creditnote"]
Outcome = Literal["success", "error", "warning"]

_ROOTS: dict[str, Syntax] = {
    "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice": "cii",
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "ubl-invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "ubl-creditnote",
}
_VEFA = "{http://difi.no/xsd/vefa/validator/1.0}"
_OUTCOMES: tuple[Outcome, ...] = ("success", "error", "warning")


def available() -> bool:
    """Whether the conformance material is there."""
    return (CONFORMANCE / "en16931-validation").is_dir()


def require() -> Path:
    """The material's folder; skips the calling test when it is absent."""
    if not available():
        pytest.skip(CONFORMANCE_SKIP_REASON)
    return CONFORMANCE


def _parse(data: bytes) -> etree._Element:
    # Our own test material, read independently of invoiceai's parser (which is under test).
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True))


def syntax_of(data: bytes) -> Syntax | None:
    """The syntax of an instance from its root element, or ``None`` for anything else."""
    return _ROOTS.get(str(_parse(data).tag))


@dataclasses.dataclass(frozen=True)
class Instance:
    """One whole invoice of the material."""

    path: Path
    syntax: Syntax

    @property
    def name(self) -> str:
        """The path relative to the material's folder (a stable test id)."""
        return str(self.path.relative_to(CONFORMANCE))

    def read(self) -> bytes:
        """The file's bytes."""
        return self.path.read_bytes()


@functools.cache
def instances() -> tuple[Instance, ...]:
    """Every whole invoice in :data:`INSTANCE_DIRS`, sorted by path; empty when the material is absent.

    ``.xml`` and ``.XML`` files both count (two CEN UBL examples are upper case); XML whose root
    is not a CII or UBL invoice or credit note is left out.
    """
    if not available():
        return ()
    found: list[Instance] = []
    for folder in INSTANCE_DIRS:
        for path in sorted((CONFORMANCE / folder).rglob("*")):
            if path.is_file() and path.suffix.lower() == ".xml":
                syntax = syntax_of(path.read_bytes())
                if syntax is not None:
                    found.append(Instance(path, syntax))
    return tuple(found)


def instance_params() -> list[object]:
    """``pytest.param`` per instance (id = relative path), or one skipped param when absent."""
    found = instances()
    if not found:
        return [pytest.param(None, marks=pytest.mark.skip(reason=CONFORMANCE_SKIP_REASON), id="conformance-absent")]
    return [pytest.param(instance, id=instance.name) for instance in found]


_OFFICIAL: dict[str, frozenset[str]] = {}


def official_errors(xml: bytes) -> frozenset[str]:
    """The rule ids the official CEN Schematron reports as fatal for ``xml``, memoised on its content.

    Skips the calling test when saxonche (the ``en16931`` extra) is not installed.
    """
    pytest.importorskip("saxonche", reason='the official rules need saxonche: pip install ".[en16931]"')
    from invoiceai.einvoice import validate_xml

    digest = hashlib.sha256(xml).hexdigest()
    if digest not in _OFFICIAL:
        _OFFICIAL[digest] = frozenset(finding.rule for finding in validate_xml(xml) if finding.severity == "error")
    return _OFFICIAL[digest]


# --- The CEN unit tests ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CenCase:
    """One expected outcome of one ``<test>`` in a CEN unit-test file.

    A ``<test>`` holds an ``<assert>`` naming rules in ``<success>`` (the rule holds: it must not
    fire), ``<error>`` (it must fire as fatal) or ``<warning>`` (it must fire as a warning), then
    the instance: a whole invoice or, more often, a fragment with only what the rule reads. A test
    naming two rules gives two cases with the same instance.

    Attributes:
        file: The unit-test file.
        index: 0-based position of the ``<test>`` in the file (most tests carry no id).
        rule: The rule id (``BR-CO-13``).
        expected: ``success``, ``error`` or ``warning``.
        instance: The instance, serialised on its own with only the namespaces it uses.
        description: The test's description, when it has one.
    """

    file: Path
    index: int
    rule: str
    expected: Outcome
    instance: bytes
    description: str | None = None

    @property
    def name(self) -> str:
        """A stable test id: ``Invoice-unit-UBL/BR-CO-13.xml#3:BR-CO-13:error``."""
        return f"{self.file.parent.name}/{self.file.name}#{self.index}:{self.rule}:{self.expected}"


def parse_cen_unit_file(path: Path) -> list[CenCase]:
    """Every expected outcome in one CEN unit-test file (a VEFA ``testSet``), in file order.

    Raises:
        ValueError: The file is not a ``testSet``, or a ``<test>`` has no instance or no outcome.
    """
    root = _parse(path.read_bytes())
    if root.tag != f"{_VEFA}testSet":
        raise ValueError(f"{path}: not a VEFA testSet (root {root.tag})")
    cases: list[CenCase] = []
    for index, test in enumerate(root.iterchildren(f"{_VEFA}test")):
        cases.extend(_cases_of(path, index, test))
    return cases


def _cases_of(path: Path, index: int, test: etree._Element) -> Iterator[CenCase]:
    assertion = test.find(f"{_VEFA}assert")
    documents = [child for child in test if isinstance(child.tag, str) and not child.tag.startswith(_VEFA)]
    if assertion is None or len(documents) != 1:
        raise ValueError(f"{path}: test {index} needs one <assert> and one instance, has {len(documents)}")
    description = assertion.findtext(f"{_VEFA}description")
    instance = _standalone(documents[0])
    outcomes = [(child, kind) for kind in _OUTCOMES for child in assertion.iterchildren(f"{_VEFA}{kind}")]
    if not outcomes:
        raise ValueError(f"{path}: test {index} names no rule in <success>, <error> or <warning>")
    for child, kind in sorted(outcomes, key=lambda pair: _position(assertion, pair[0])):
        rule = (child.text or "").strip()
        yield CenCase(path, index, rule, kind, instance, " ".join(description.split()) if description else None)


def _position(parent: etree._Element, child: etree._Element) -> int:
    return list(parent).index(child)


def _standalone(element: etree._Element) -> bytes:
    # A copy drops the testSet's own (VEFA) namespace, which the instance does not use.
    copy = etree.fromstring(etree.tostring(element))
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, xml_declaration=True, encoding="UTF-8")


@functools.cache
def cen_unit_cases() -> tuple[CenCase, ...]:
    """Every case of every CEN unit-test file, sorted by file; empty when the material is absent."""
    if not available():
        return ()
    files = sorted({path for pattern in UNIT_TEST_GLOBS for path in CONFORMANCE.glob(pattern)})
    return tuple(case for path in files for case in parse_cen_unit_file(path))


def cen_unit_params(*rules: str) -> list[object]:
    """``pytest.param`` per CEN unit case (only those for ``rules`` when given), or one skipped param."""
    cases = [case for case in cen_unit_cases() if not rules or case.rule in rules]
    if not cases:
        reason = CONFORMANCE_SKIP_REASON if not available() else f"no CEN unit case for {', '.join(rules)}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="cen-unit-absent")]
    return [pytest.param(case, id=case.name) for case in cases]
