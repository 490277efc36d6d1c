"""Running an evaluation: every setting over the same labelled documents.

Each :class:`EvalSetting` (a model, an image detail, an input mode) gets its own
:class:`~invoiceai.Extractor`, which reads every document's pages with the model
(``prefer_embedded=False``: an e-invoice's XML is the label, so it must never be the answer)
and with provenance on, so each result says whether it needs review. Each result is compared
with its label (:func:`~invoiceai.evaluation.compare.compare`); the report sums them up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from invoiceai.errors import ConfigurationError
from invoiceai.evaluation.compare import compare
from invoiceai.evaluation.dataset import Dataset, LabelledDocument
from invoiceai.evaluation.matching import MATCH_THRESHOLD
from invoiceai.evaluation.outcome import DocumentOutcome, EvalSetting

if TYPE_CHECKING:
    from invoiceai.config import Detail
    from invoiceai.evaluation.report import EvalReport
    from invoiceai.extractor import Extractor
    from invoiceai.provenance import ReviewPolicy

__all__ = ["ExtractorFactory", "evaluate", "settings_grid"]


ExtractorFactory = Callable[[EvalSetting], "Extractor"]
"""Builds the extractor for one setting; it must have ``prefer_embedded=False``."""


def settings_grid(
    models: Sequence[str | None] = (None,),
    details: Sequence[str | None] = (None,),
    modes: Sequence[str | None] = (None,),
) -> list[EvalSetting]:
    """Every combination of models, details and modes, in that order (``--models A,B --detail standard,high``)."""
    return [
        EvalSetting(model, detail, mode)
        for model in models or (None,)
        for detail in details or (None,)
        for mode in modes or (None,)
    ]


def evaluate(
    dataset: Dataset | Iterable[LabelledDocument],
    settings: Sequence[EvalSetting] = (EvalSetting(),),
    *,
    extractor: ExtractorFactory | None = None,
    cache: Any = None,
    concurrency: int | None = None,
    review_policy: ReviewPolicy | None = None,
    fields: Sequence[str] | None = None,
    threshold: float = MATCH_THRESHOLD,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Extracts every document under every setting and compares each result with its label.

    Args:
        dataset: From :func:`~invoiceai.evaluation.load_dataset`, or labelled documents.
        settings: The settings to compare, side by side.
        extractor: Builds the extractor for a setting (a fake backend in tests); default an
            :class:`~invoiceai.Extractor` with the setting's model and mode, provenance on,
            ``prefer_embedded=False`` and the given cache and concurrency.
        cache: The result cache of the default extractors (default none: every document is
            read again, so cost and latency are real; ``"sqlite"`` re-scores without paying).
        concurrency: Requests in flight at once.
        review_policy: When a result needs review (default the strict
            :class:`~invoiceai.provenance.ReviewPolicy`).
        fields: Compare only these fields (shell patterns on index-free paths).
        threshold: The least similarity for two list rows to be paired.
        progress: Called as ``progress(setting name, done, total)`` after each document.

    Returns:
        The report, one column per setting.

    Raises:
        ConfigurationError: No settings, or an extractor that would answer from embedded XML.
    """
    from invoiceai.evaluation.report import EvalReport

    documents = dataset.documents if isinstance(dataset, Dataset) else tuple(dataset)
    skipped = dataset.skipped if isinstance(dataset, Dataset) else ()
    if not settings:
        raise ConfigurationError("evaluate() needs at least one EvalSetting")
    factory = extractor or _default_factory(cache, concurrency, review_policy)
    runs = {}
    for setting in settings:
        outcomes = _run(setting, factory(setting), documents, concurrency, review_policy, fields, threshold, progress)
        runs[setting] = outcomes
    return EvalReport(documents, skipped, runs)


def _default_factory(cache: Any, concurrency: int | None, review_policy: ReviewPolicy | None) -> ExtractorFactory:
    def build(setting: EvalSetting) -> Extractor:
        from invoiceai.config import Settings
        from invoiceai.extractor import Extractor

        return Extractor(
            model=setting.model,
            mode=setting.mode,
            settings=Settings.load(provenance=True),
            cache=cache,
            concurrency=concurrency,
            prefer_embedded=False,
            review_policy=review_policy,
        )

    return build


def _run(
    setting: EvalSetting,
    extractor: Extractor,
    documents: Sequence[LabelledDocument],
    concurrency: int | None,
    review_policy: ReviewPolicy | None,
    fields: Sequence[str] | None,
    threshold: float,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[DocumentOutcome, ...]:
    from invoiceai.extractor.batch import in_order

    if extractor.prefer_embedded:
        raise ConfigurationError(
            "an evaluation extractor must have prefer_embedded=False: with it on, an e-invoice PDF is "
            "answered from its embedded XML, which is the label, so the model would never be measured"
        )
    outcomes: list[DocumentOutcome] = []
    if not documents:
        return ()
    with extractor:
        items = extractor.iter_extract(
            [document.path for document in documents],
            schema=type(documents[0].truth),
            concurrency=concurrency,
            detail=cast("Detail | None", setting.detail),
            progress=False,
        )
        for document, result in zip(documents, in_order(items), strict=True):
            outcomes.append(_outcome(document, result, review_policy, fields, threshold))
            if progress is not None:
                progress(setting.name, len(outcomes), len(documents))
    return tuple(outcomes)


def _outcome(
    document: LabelledDocument,
    result: Any,
    review_policy: ReviewPolicy | None,
    fields: Sequence[str] | None,
    threshold: float,
) -> DocumentOutcome:
    latency = result.timings.total
    if not result.ok:
        error = f"{type(result.error).__name__}: {result.error.message}"
        return DocumentOutcome(document, None, error, cost_usd=result.usage.cost_usd, latency_s=latency)
    if review_policy is not None and result.review is None:
        result = result.reviewed(review_policy)
    review = result.review
    return DocumentOutcome(
        document,
        compare(document.truth, result.data, fields=fields, threshold=threshold),
        needs_review=bool(review is not None and review.needs_review),
        review_fields=review.fields if review is not None else (),
        cost_usd=result.usage.cost_usd,
        latency_s=latency,
        cached=result.cached,
    )
