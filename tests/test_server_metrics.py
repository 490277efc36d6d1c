"""Service metrics (invoiceai.server.metrics): the exposition output is parsed back and checked."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

pytest.importorskip("prometheus_client", reason="the server extra (prometheus-client) is not installed")

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from invoiceai.errors import MissingDependencyError
from invoiceai.server.metrics import JOB_STATES, OTHER, UNMATCHED_ROUTE, ServiceMetrics

Labels = tuple[tuple[str, str], ...]


def samples(metrics: ServiceMetrics) -> dict[tuple[str, Labels], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    body, _ = metrics.render()
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def names(metrics: ServiceMetrics) -> set[str]:
    return {name for name, _ in samples(metrics)}


def test_render_gives_the_text_format_and_its_content_type() -> None:
    body, content_type = ServiceMetrics().render()
    assert content_type.startswith("text/plain")
    assert "version=" in content_type
    assert b"# TYPE invoiceai_queue_depth gauge" in body


def test_metrics_live_in_a_private_registry() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()  # a second app would collide in the global registry
    first.document_done()
    assert value(first, "invoiceai_documents_total") == 1
    assert value(second, "invoiceai_documents_total") == 0
    assert not any(name.startswith("invoiceai_") for name in REGISTRY._names_to_collectors)


def test_every_job_state_shows_from_the_first_scrape() -> None:
    metrics = ServiceMetrics()
    for state in JOB_STATES:
        assert value(metrics, "invoiceai_job_transitions_total", state=state) == 0
        assert value(metrics, "invoiceai_jobs", state=state) == 0


def test_job_transitions_are_counted_by_state() -> None:
    metrics = ServiceMetrics()
    for state in ("queued", "queued", "running", "succeeded"):
        metrics.job_state(state)
    assert value(metrics, "invoiceai_job_transitions_total", state="queued") == 2
    assert value(metrics, "invoiceai_job_transitions_total", state="running") == 1
    assert value(metrics, "invoiceai_job_transitions_total", state="succeeded") == 1
    assert value(metrics, "invoiceai_job_transitions_total", state="failed") == 0


def test_an_unknown_job_state_is_refused() -> None:
    metrics = ServiceMetrics()
    with pytest.raises(ValueError, match="Unknown job state 'done'"):
        metrics.job_state("done")
    with pytest.raises(ValueError, match="Unknown job state"):
        metrics.jobs_in_state({"paused": 1})


def test_jobs_in_state_sets_each_state_and_zeroes_the_missing_ones() -> None:
    metrics = ServiceMetrics()
    metrics.jobs_in_state({"queued": 5, "running": 2, "failed": 1})
    metrics.jobs_in_state({"queued": 3, "succeeded": 4})
    assert value(metrics, "invoiceai_jobs", state="queued") == 3
    assert value(metrics, "invoiceai_jobs", state="succeeded") == 4
    assert value(metrics, "invoiceai_jobs", state="running") == 0
    assert value(metrics, "invoiceai_jobs", state="failed") == 0
    with pytest.raises(ValueError, match="negative"):
        metrics.jobs_in_state({"queued": -1})
    assert value(metrics, "invoiceai_jobs", state="queued") == 3  # a refused update changes nothing


def test_queue_depth_is_a_gauge() -> None:
    metrics = ServiceMetrics()
    metrics.queue_depth(12)
    metrics.queue_depth(4)
    assert value(metrics, "invoiceai_queue_depth") == 4
    with pytest.raises(ValueError, match="queue depth cannot be negative"):
        metrics.queue_depth(-1)


def test_requests_are_counted_and_timed_by_route_template() -> None:
    metrics = ServiceMetrics()
    metrics.request("/v1/jobs/{id}", 200, 0.004)
    metrics.request("/v1/jobs/{id}", 200, 0.03)
    metrics.request("/v1/jobs/{id}", 404, 0.002)
    metrics.request("/v1/documents", 202, 0.2, method="post")
    got = samples(metrics)
    job = (("method", "GET"), ("route", "/v1/jobs/{id}"))
    assert got[("invoiceai_http_requests_total", (*job, ("status", "200")))] == 2
    assert got[("invoiceai_http_requests_total", (*job, ("status", "404")))] == 1
    assert got[("invoiceai_http_request_duration_seconds_count", job)] == 3
    assert got[("invoiceai_http_request_duration_seconds_sum", job)] == pytest.approx(0.036)
    assert got[("invoiceai_http_request_duration_seconds_bucket", (("le", "0.005"), *job))] == 2
    assert got[("invoiceai_http_request_duration_seconds_bucket", (("le", "0.025"), *job))] == 2
    assert got[("invoiceai_http_request_duration_seconds_bucket", (("le", "0.05"), *job))] == 3
    upload = (("method", "POST"), ("route", "/v1/documents"), ("status", "202"))
    assert got[("invoiceai_http_requests_total", upload)] == 1


def test_unusual_methods_are_counted_as_other() -> None:
    metrics = ServiceMetrics()
    metrics.request(UNMATCHED_ROUTE, 405, 0.001, method="BREW")
    assert value(metrics, "invoiceai_http_requests_total", route=UNMATCHED_ROUTE, method=OTHER, status="405") == 1


@pytest.mark.parametrize(("status", "seconds"), [(99, 0.1), (600, 0.1), (200, -0.5)])
def test_a_request_with_impossible_values_is_refused(status: int, seconds: float) -> None:
    metrics = ServiceMetrics()
    with pytest.raises(ValueError, match=r"HTTP status|cannot take"):
        metrics.request("/v1/jobs/{id}", status, seconds)


def test_label_values_are_bounded_so_raw_paths_cannot_explode_the_scrape() -> None:
    metrics = ServiceMetrics(max_label_values=3)
    for n in range(50):
        metrics.request(f"/v1/jobs/{n}", 200, 0.01)  # a caller's bug: raw paths, not the template
        metrics.error(f"Error{n}")
    routes = {dict(labels).get("route") for name, labels in samples(metrics) if name == "invoiceai_http_requests_total"}
    assert routes == {"/v1/jobs/0", "/v1/jobs/1", "/v1/jobs/2", OTHER}
    assert value(metrics, "invoiceai_http_requests_total", route=OTHER, method="GET", status="200") == 47
    assert value(metrics, "invoiceai_errors_total", kind=OTHER) == 47
    metrics.request("/v1/jobs/1", 200, 0.01)  # a value already admitted keeps its own series
    assert value(metrics, "invoiceai_http_requests_total", route="/v1/jobs/1", method="GET", status="200") == 2


def test_tokens_and_cost_add_up() -> None:
    metrics = ServiceMetrics()
    metrics.tokens(1200, 300, Decimal("0.0081"))
    metrics.tokens(800, 100, Decimal("0.0042"))
    assert value(metrics, "invoiceai_tokens_total", direction="input") == 2000
    assert value(metrics, "invoiceai_tokens_total", direction="output") == 400
    assert value(metrics, "invoiceai_cost_usd_total") == pytest.approx(0.0123)


@pytest.mark.parametrize(
    ("input_tokens", "output_tokens", "cost"),
    [(-1, 0, Decimal(0)), (0, -1, Decimal(0)), (1, 1, Decimal("-0.01")), (1, 1, Decimal("NaN"))],
)
def test_negative_usage_is_refused_and_nothing_is_counted(input_tokens: int, output_tokens: int, cost: Decimal) -> None:
    metrics = ServiceMetrics()
    with pytest.raises(ValueError, match=r"negative|at least 0"):
        metrics.tokens(input_tokens, output_tokens, cost)
    assert value(metrics, "invoiceai_tokens_total", direction="input") == 0
    assert value(metrics, "invoiceai_cost_usd_total") == 0


def test_errors_are_counted_by_kind() -> None:
    metrics = ServiceMetrics()
    metrics.error("FetchError")
    metrics.error("FetchError")
    metrics.error("RateLimitError")
    assert value(metrics, "invoiceai_errors_total", kind="FetchError") == 2
    assert value(metrics, "invoiceai_errors_total", kind="RateLimitError") == 1


def test_documents_done_is_a_counter_to_take_a_rate_of() -> None:
    metrics = ServiceMetrics()
    metrics.document_done()
    metrics.document_done(4)
    body, _ = metrics.render()
    assert b"# TYPE invoiceai_documents_total counter" in body
    assert value(metrics, "invoiceai_documents_total") == 5
    with pytest.raises(ValueError, match="negative"):
        metrics.document_done(-1)


def test_a_custom_namespace_prefixes_every_metric() -> None:
    metrics = ServiceMetrics(namespace="billing")
    assert names(metrics) and all(name.startswith("billing_") for name in names(metrics))


def test_without_prometheus_client_a_typed_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match=r"invoiceai-claude\[server\]") as caught:
        ServiceMetrics()
    assert caught.value.extra == "server"


def test_importing_the_module_does_not_load_prometheus_client() -> None:
    code = "import sys, invoiceai.server.metrics; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
