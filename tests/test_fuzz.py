"""Fuzzing (issue 10): mutated documents end in a result or a typed error, never hang, never cost a request.

Each campaign runs a few hundred seeded mutations of the seed files (small hostile files, generated
invoices and, when present, the shared corpus) in a worker process under a 1 GiB address-space
limit; a case that does not answer within 15 s counts as a hang and one that kills its worker as
a crash. Set ``INVOICEAI_FUZZ_SEED`` to explore other cases in CI; a failure names the case, and
``python tests/fuzzing.py --seed S --only I --save DIR`` replays it and writes the file. For a long
run: ``python -m tests.fuzzing --cases 20000 --seed N``.
"""

from __future__ import annotations

import os
import random

import pytest

import fuzzing
import hostile_files
from conftest import CORPUS_SKIP_REASON, corpus_files

SEED = int(os.environ.get("INVOICEAI_FUZZ_SEED", "0"))
CASE_TIMEOUT = 15.0


def _check(report: fuzzing.Campaign, cases: int) -> None:
    assert len(report.cases) == cases
    assert not report.bad(), report.summary()


def test_mutated_generated_files_end_in_typed_outcomes() -> None:
    # 500 on their own, so CI runs the 500 cases even where the corpus is absent.
    report = fuzzing.campaign(500, SEED, timeout=CASE_TIMEOUT, corpus=False)
    _check(report, 500)


@pytest.mark.corpus
def test_mutated_corpus_files_end_in_typed_outcomes() -> None:
    if not corpus_files(".", "*/*.pdf", "*/*/*.pdf"):
        pytest.skip(CORPUS_SKIP_REASON)
    # A different seed stream from the generated-only run, so the two cover different cases.
    report = fuzzing.campaign(300, SEED + 1_000_003, timeout=CASE_TIMEOUT, corpus=True)
    _check(report, 300)


def test_cases_are_reproducible_from_seed_and_index() -> None:
    seeds = hostile_files.seed_files(corpus=False)
    first = [fuzzing.make_case(seeds, 5, index) for index in range(20)]
    again = [fuzzing.make_case(seeds, 5, index) for index in range(20)]
    assert first == again
    assert [fuzzing.case_base(seeds, 5, index) for index in range(20)] == [name for name, _, _ in first]
    originals = dict(seeds)
    assert all(data != originals[name]() for name, data, _ in first)


@pytest.mark.parametrize("mutation", fuzzing.MUTATIONS, ids=lambda mutation: mutation.__name__)
def test_every_mutation_changes_the_bytes(mutation: object) -> None:
    data = hostile_files.deep_dictionary_pdf(20)
    rng = random.Random(1)
    changed = [mutation(bytearray(data), rng) for _ in range(10)]  # type: ignore[operator]
    assert any(bytes(out) != data for out in changed)


def test_campaign_flags_what_the_acceptance_forbids() -> None:
    report = fuzzing.Campaign(0)
    report.cases = [
        {"index": 0, "base": "a", "outcome": "result", "origin": "model", "calls": 1},
        {"index": 1, "base": "b", "outcome": "error", "type": "CorruptDocumentError", "calls": 0},
        {"index": 2, "base": "c", "outcome": "error", "type": "CorruptDocumentError", "calls": 1},
        {"index": 3, "base": "d", "outcome": "untyped", "type": "pypdfium2.PdfiumError", "calls": 0},
        {"index": 4, "base": "e", "outcome": "hang", "seconds": 15.0},
        {"index": 5, "base": "f", "outcome": "crash", "returncode": -6},
    ]
    assert [case["index"] for case in report.bad()] == [2, 3, 4, 5]
    summary = report.summary()
    assert "VIOLATION hang: case 4" in summary
    assert "--seed 0 --only 4" in summary  # the slowest case, with the command that replays it


def test_a_child_that_does_not_end_is_killed_and_reported() -> None:
    # The harness itself must not hang on a hostile input: here a fetch that nothing bounds.
    with hostile_files.TricklingServer(part="headers", interval=0.5) as server:
        spec = {"url": server.url, "settings": {"allow_private_urls": True, "fetch_timeout": 3600}}
        run = fuzzing.run_isolated(spec, kill_after=3.0)
    assert run.timed_out
    assert run.returncode < 0
    assert run.outcome is None
