"""The service's fleet under load: documents/s against the ideal, GET latency, memory, load.

Starts PostgreSQL (``INVOICEAI_TEST_POSTGRES_URL``, else a throwaway cluster from Debian's
binaries), redis-server, the fake Claude API on a loopback port (``--latency`` s per answer, at
most ``--limit`` requests at once: more are refused with 429 as the real API would), the API
(``invoiceai serve --broker``) and ``--workers`` ``invoiceai worker`` processes. Each worker keeps
at most its share of ``--limit`` requests in flight (``INVOICEAI_MAX_CONCURRENT_REQUESTS``) and runs
``--spare-threads`` more threads than that, which render and store while the others wait. A
small warm-up batch runs first (each worker builds its extractor on its first job); then
``--documents`` small PNG invoices go in one batch, while a thread reads
``GET /v1/jobs/{id}`` of random jobs of it, one after another.

Reports documents/s from the batch's acceptance to its last result (and from the first job's
start to the last one's end), against the ideal ``limit / latency``; the p50/p95 of the job
reads; the peak RSS (``VmHWM``) of the API and of each worker; the load average.

    python benchmarks/service.py                      # 1000 documents, latency 0.3 s, C=16, 2 workers
    python benchmarks/service.py --documents 300 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from documents_factory import example_invoice, png_invoice  # noqa: E402
from fleet_harness import batch_files, cpu_seconds, fleet_environment, peak_rss_kib, running_fleet  # noqa: E402


def _postgres() -> Any:
    import contextlib

    configured = os.environ.get("INVOICEAI_TEST_POSTGRES_URL")
    if configured:
        return contextlib.nullcontext(configured)
    from server_postgres import throwaway_postgres

    return throwaway_postgres()


def _fresh_database(server: str) -> str:
    import uuid

    from sqlalchemy import create_engine, text

    name = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


class Reader(threading.Thread):
    """Reads ``GET /v1/jobs/{id}`` of random jobs, one after another, until stopped."""

    def __init__(self, base_url: str, job_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.job_ids = base_url, job_ids
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import httpx2

        with httpx2.Client(base_url=self.base_url, timeout=30) as api:
            while not self.stop.is_set():
                started = time.perf_counter()
                response = api.get(f"/v1/jobs/{random.choice(self.job_ids)}")
                self.latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                self.stop.wait(0.02)


def _wait_finished(api: Any, batch_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = api.get(f"/v1/batches/{batch_id}").json()
        if state["finished"] or time.monotonic() > deadline:
            return state
        time.sleep(0.25)


def _span_seconds(database_url: str, batch_id: str) -> float:
    from sqlalchemy import create_engine, func, select

    from invoiceai.server.models import jobs

    engine = create_engine(database_url)
    with engine.connect() as connection:
        first, last = connection.execute(
            select(func.min(jobs.c.started_at), func.max(jobs.c.finished_at)).where(jobs.c.batch_id == batch_id)
        ).one()
    engine.dispose()
    return float((last - first).total_seconds())


def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from invoiceai.testing import FakeClaudeAPI
    from test_cache_redis import PASSWORD, start_own_server, stop

    fake = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 1500, "output_tokens": 400},
        latency=args.latency, max_concurrency=args.limit,
    )  # fmt: skip
    documents = [png_invoice(f"bench {n}", size=(200, 280)) for n in range(args.documents)]
    warmup = [png_invoice(f"warm-up {n}", size=(200, 280)) for n in range(args.limit)]
    per_worker = max(1, args.limit // args.workers)  # requests in flight per worker
    threads = per_worker + args.spare_threads
    with tempfile.TemporaryDirectory(prefix="invoiceai-bench-") as temp, _postgres() as server:
        root = Path(temp)
        redis_process, port = start_own_server(root)
        try:
            base = f"redis://:{PASSWORD}@127.0.0.1:{port}"
            database = _fresh_database(server)
            redis.Redis.from_url(f"{base}/1").flushdb()
            with fake.serve() as served:
                # Each worker keeps at most its share of C requests in flight; spare threads render
                # and store while the others wait for answers.
                cap = {"INVOICEAI_MAX_CONCURRENT_REQUESTS": str(per_worker)}
                env = fleet_environment(
                    database_url=database, broker_url=f"{base}/0", cache_url=f"{base}/1", fake_url=served.base_url,
                    extra=cap,
                )  # fmt: skip
                with running_fleet(root, env, workers=args.workers, concurrency=threads) as fleet:
                    with fleet.client() as api:
                        warm = api.post("/v1/batches", files=batch_files(warmup)).json()
                        _wait_finished(api, warm["id"], 120)
                        calls_before = len(fake.message_requests)
                        processes = [fleet.api, *fleet.workers]
                        cpu_before = {p.name: cpu_seconds(p.process.pid) for p in processes}
                        started = time.perf_counter()
                        batch = api.post("/v1/batches", files=batch_files(documents))
                        accepted = time.perf_counter()
                        batch.raise_for_status()
                        body = batch.json()
                        reader = Reader(fleet.base_url, [job["id"] for job in body["jobs"]])
                        reader.start()
                        state = _wait_finished(api, body["id"], 600)
                        finished = time.perf_counter()
                        reader.stop.set()
                        reader.join()
                        rss = {p.name: peak_rss_kib(p.process.pid) for p in processes}
                        cpu = {p.name: cpu_seconds(p.process.pid) - cpu_before[p.name] for p in processes}
                    load = os.getloadavg()
                    span = _span_seconds(database, body["id"])
        finally:
            stop(redis_process)
    figures = _figures(args, state, fake, reader.latencies, started, accepted, finished, span, rss, calls_before, load)
    # CPU per document (API + workers; PostgreSQL, Redis and the fake not counted): on an idle
    # machine with N cores, N / this is roughly the most documents/s the fleet's processes allow.
    figures["cpu_ms_per_document"] = {name: round(1000 * seconds / args.documents, 1) for name, seconds in cpu.items()}
    return figures


def _figures(
    args: argparse.Namespace, state: dict[str, Any], fake: Any, latencies: list[float], started: float,
    accepted: float, finished: float, span: float, rss: dict[str, int], calls_before: int, load: Any,
) -> dict[str, Any]:  # fmt: skip
    ideal = args.limit / args.latency
    ordered = sorted(latencies)
    measured = args.documents / (finished - accepted)
    per_worker = max(1, args.limit // args.workers)
    return {
        "documents": args.documents, "succeeded": state["counts"]["succeeded"], "latency_s": args.latency,
        "limit": args.limit, "workers": args.workers, "requests_per_worker": per_worker,
        "threads_per_worker": per_worker + args.spare_threads,
        "model_calls": len(fake.message_requests) - calls_before, "upload_s": round(accepted - started, 2),
        "accepted_to_done_s": round(finished - accepted, 2), "docs_per_s": round(measured, 2),
        "ideal_docs_per_s": round(ideal, 2), "ratio": round(measured / ideal, 3),
        "docs_per_s_first_start_to_last_end": round(args.documents / span, 2),
        "ratio_first_start_to_last_end": round(args.documents / span / ideal, 3),
        "peak_concurrency_at_fake": fake.peak_concurrency, "refused_by_fake": fake.concurrency_rejections,
        "get_job_reads": len(ordered), "get_job_p50_ms": round(1000 * statistics.median(ordered), 1),
        "get_job_p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
        "peak_rss_mib": {name: round(kib / 1024, 1) for name, kib in rss.items()},
        "load_average": [round(value, 2) for value in load], "cpus": os.cpu_count(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per fake answer")
    parser.add_argument("--limit", type=int, default=16, help="requests the fake takes at once (C)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes; they share --limit threads")
    parser.add_argument("--spare-threads", type=int, default=4, help="worker threads per worker beyond its requests")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        print(f"{name:36} {value}")


if __name__ == "__main__":
    main()
