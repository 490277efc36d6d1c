"""Measuring extraction on your own labelled documents: ``invoiceai eval`` and its Python API.

```python
from invoiceai.evaluation import EvalSetting, evaluate, load_dataset

dataset = load_dataset(["labelled/"])  # a.pdf + a.json (an Invoice as JSON), or e-invoice PDFs
report = evaluate(dataset, [EvalSetting(model="claude-sonnet-5"), EvalSetting(model="claude-haiku-4-5")])
print(report.table())
report.to_dict()["settings"][0]["summary"]["value_accuracy"]
Path("eval.html").write_text(report.html())
```

The layer sits above the extractor, beside the CLI: :mod:`~invoiceai.evaluation.run` runs the
documents through an :class:`~invoiceai.Extractor`; :mod:`~invoiceai.evaluation.compare`,
:mod:`~invoiceai.evaluation.matching` and :mod:`~invoiceai.evaluation.fields` compare results
with labels and are pure; :mod:`~invoiceai.evaluation.figures` sums them up.
"""

from __future__ import annotations

from invoiceai.evaluation.compare import Check, Comparison, RowCounts, compare
from invoiceai.evaluation.dataset import DOCUMENT_SUFFIXES, Dataset, LabelledDocument, load_dataset, read_label
from invoiceai.evaluation.figures import FieldStats, SettingResult, Summary
from invoiceai.evaluation.matching import MATCH_THRESHOLD, best_assignment, match_rows, row_similarity
from invoiceai.evaluation.outcome import DocumentOutcome, EvalSetting
from invoiceai.evaluation.report import EvalReport
from invoiceai.evaluation.run import ExtractorFactory, evaluate, settings_grid

__all__ = [
    "DOCUMENT_SUFFIXES",
    "MATCH_THRESHOLD",
    "Check",
    "Comparison",
    "Dataset",
    "DocumentOutcome",
    "EvalReport",
    "EvalSetting",
    "ExtractorFactory",
    "FieldStats",
    "LabelledDocument",
    "RowCounts",
    "SettingResult",
    "Summary",
    "best_assignment",
    "compare",
    "evaluate",
    "load_dataset",
    "match_rows",
    "read_label",
    "row_similarity",
    "settings_grid",
]
