"""Shared fixtures. The real-world corpus lives next to the project at ../shared/corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests must not fail because the machine is busy (CI runners, `pytest -n 2` next to other
# jobs): "ci" drops the per-example deadline and the too_slow health check, and derandomizes so a
# run is reproducible from the commit alone. "dev" keeps Hypothesis's defaults (random examples
# find more), with no deadline either, since timing is not what these tests check.
# Choose with HYPOTHESIS_PROFILE; CI=1 (set by most CI services) picks "ci".
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))
CORPUS_SKIP_REASON = (
    f"the shared real-world corpus is not at {CORPUS} (set INVOICEAI_CORPUS to point at it); "
    "the project's own fixtures still run"
)


def corpus_files(subdir: str, *patterns: str) -> list[Path]:
    """Corpus files under ``subdir`` matching any glob pattern, sorted; empty when the corpus is absent."""
    base = CORPUS / subdir
    if not base.is_dir():
        return []
    found: set[Path] = set()
    for pattern in patterns or ("*",):
        found.update(path for path in base.glob(pattern) if path.is_file())
    return sorted(found)


def corpus_params(subdir: str, *patterns: str) -> list[object]:
    """``pytest.param`` per corpus file (id = relative path), or one skipped param when absent."""
    files = corpus_files(subdir, *patterns)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=CORPUS_SKIP_REASON), id="corpus-absent")]
    return [pytest.param(path, id=str(path.relative_to(CORPUS)), marks=pytest.mark.corpus) for path in files]


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_SKIP_REASON)
    return CORPUS


@pytest.fixture(autouse=True)
def _no_real_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never reach the network; a real key in the developer's shell must not leak into them.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
