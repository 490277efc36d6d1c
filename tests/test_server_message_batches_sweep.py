"""What a Message Batches submission killed midway leaves in the job store, and the purge that sweeps it.

The driver and the library write as they do in service (fake Claude API on 127.0.0.1); the kill is
an exception no handler catches, raised as the submission writes its ``meta`` record.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from invoiceai.cache.batch_store import Records
from invoiceai.server.clock import utcnow
from invoiceai.server.message_batches_store import DatabaseBatchStore, batch_records, message_batches
from invoiceai.server.retention import Purged, purge
from server_helpers import client, new_key, serving, settings_for
from test_server_message_batches import claude_extractor, drive_now, fake_claude, submit


class Killed(BaseException):
    """The process dies here: no ``except Exception`` of the driver runs."""


def records_by_job(context: Any) -> dict[str, int]:
    query = select(batch_records.c.job, func.count()).group_by(batch_records.c.job)
    with context.engine.begin() as connection:
        return {str(job): int(number) for job, number in connection.execute(query)}


def test_a_submission_killed_before_its_meta_is_swept_a_day_later(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = settings_for(tmp_path, database_url=database_url, workers=0)
    real_put = DatabaseBatchStore.put

    def put_then_die_at_meta(self: DatabaseBatchStore, job: str, records: Records) -> None:
        if ("meta", "job") in records:
            raise Killed
        real_put(self, job, records)

    with fake_claude() as (_, base_url), serving(service, extractor=claude_extractor(base_url)) as (server, context):
        http = client(server, new_key(context)[1])
        batch = submit(http, 2)
        with monkeypatch.context() as patched:
            patched.setattr(DatabaseBatchStore, "put", put_then_die_at_meta)
            with pytest.raises(Killed):
                drive_now(context)
        left = records_by_job(context)
        with context.engine.begin() as connection:
            bound = connection.execute(select(message_batches.c.job_id)).scalar_one()
        # The documents are stored, the binding is not: nothing will ever read these records.
        assert bound is None and len(left) == 1 and DatabaseBatchStore(context.engine).jobs() == []
        (orphan,) = left
        # Just written: as far as the purge can tell, a submission still in progress.
        assert purge(context.engine, service, now=utcnow() + timedelta(hours=20)).batch_records == 0
        assert records_by_job(context) == left
        for _ in range(3):  # the next driver submits the batch again, under a new library job
            drive_now(context)
        statuses = [http.get(f"/v1/jobs/{job['id']}").json()["status"] for job in batch["jobs"]]
        assert statuses == ["succeeded"] * 2
        assert records_by_job(context) == left  # the finished job's records were deleted at its close
        swept = purge(context.engine, service, now=utcnow() + timedelta(days=2))
        assert records_by_job(context) == {}
    assert swept == Purged(batch_records=left[orphan])
