"""The review API: the page, its data, page images, and corrections that change the stored result.

The correction tests run on both job stores (``database_url``: a SQLite file, then PostgreSQL
when the session has one), since a correction is a locked read-modify-write of the job's row.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from invoiceai.einvoice import read_einvoice
from invoiceai.server.audit import read_audit
from invoiceai.server.review_store import read_corrections
from review_helpers import HOSTILE, TRUTH, served_job
from server_helpers import client, new_key

PROBLEM = "application/problem+json"


def test_the_page_is_static_html_under_a_strict_content_security_policy(tmp_path: Path) -> None:
    with served_job(tmp_path, TRUTH) as (server, _, _key, job_id):
        page = client(server).get(f"/v1/jobs/{job_id}/review")  # no key: the page holds no data
        script = client(server).get("/v1/review/static/review.js")
        missing = client(server).get("/v1/review/static/review.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert job_id not in page.text and "INV-0042" not in page.text
    assert script.headers["content-type"].startswith("text/javascript") and ".innerHTML" not in script.text
    assert missing.status_code == 404


def test_review_data_has_each_value_with_its_box_and_needs_the_key(tmp_path: Path) -> None:
    with served_job(tmp_path, {**TRUTH, "total": "32.80"}) as (server, context, key, job_id):
        anonymous = client(server).get(f"/v1/jobs/{job_id}/review/data")
        other = client(server, new_key(context, "other")[1]).get(f"/v1/jobs/{job_id}/review/data")
        view = client(server, key).get(f"/v1/jobs/{job_id}/review/data").json()
        image = client(server, key).get(f"/v1/jobs/{job_id}/pages/1")
        past = client(server, key).get(f"/v1/jobs/{job_id}/pages/2")
        no_key_image = client(server).get(f"/v1/jobs/{job_id}/pages/1")
    assert (anonymous.status_code, other.status_code, no_key_image.status_code) == (401, 404, 401)
    fields = {field["path"]: field for field in view["fields"]}
    assert fields["invoice_number"]["page"] == 1 and fields["invoice_number"]["text"] == "INV-0042"
    x0, y0, x1, y1 = fields["invoice_number"]["box"]
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert fields["total"]["needs_review"] and fields["total"]["confidence"] == "low"
    assert sorted(finding["rule"] for finding in fields["total"]["findings"]) == [
        "BR-CO-15",
        "BR-CO-16",
        "IAI-UNGROUNDED",
    ]
    assert not fields["invoice_number"]["needs_review"]
    assert view["review"]["needs_review"] and view["pages"] == [{"number": 1, "url": f"/v1/jobs/{job_id}/pages/1"}]
    assert image.status_code == 200 and image.headers["content-type"] in ("image/png", "image/jpeg")
    assert image.content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    assert past.status_code == 404 and past.headers["content-type"] == PROBLEM


def test_a_correction_changes_the_result_and_the_cii_export_and_is_audited(tmp_path: Path, database_url: str) -> None:
    with served_job(tmp_path, {**TRUTH, "total": "32.80"}, database_url=database_url) as (server, context, key, job_id):
        api = client(server, key)
        before = api.get(f"/v1/jobs/{job_id}/result").json()
        made = api.post(f"/v1/jobs/{job_id}/corrections", json={"field": "total", "value": "23.80"})
        confirmed = api.post(f"/v1/jobs/{job_id}/corrections", json={"field": "invoice_number", "value": "INV-0042"})
        still = api.get(f"/v1/jobs/{job_id}/result").json()["review"]
        data = api.get(f"/v1/jobs/{job_id}/result").json()["data"]
        for field in still["fields"]:  # BR-CO-15 and BR-CO-16 named these too: a person confirms them
            if field not in still["reviewed_fields"]:
                api.post(f"/v1/jobs/{job_id}/corrections", json={"field": field, "value": data.get(field)})
        after = api.get(f"/v1/jobs/{job_id}/result").json()
        cii = api.get(f"/v1/jobs/{job_id}/result", params={"format": "cii"})
        trail = api.get(f"/v1/jobs/{job_id}/corrections").json()["corrections"]
        assert cii.status_code == 200, cii.text
        view = api.get(f"/v1/jobs/{job_id}/review/data").json()
    assert before["data"]["total"] == "32.80" and before["review"]["needs_review"]
    assert made.status_code == 201, made.text
    assert (made.json()["old_value"], made.json()["new_value"], made.json()["action"]) == ("32.80", "23.80", "correct")
    assert confirmed.json()["action"] == "confirm"
    assert after["data"]["total"] == "23.80"
    # The findings are made again on the corrected invoice: 23.80 adds up, so BR-CO-15 and BR-CO-16
    # are gone with the IAI-UNGROUNDED of the old value, and nothing is left to review.
    assert not still["needs_review"] and still["reviewed_fields"] == ["total", "invoice_number"]
    assert still["fields"] == [] and not [finding for finding in after["findings"] if "total" in finding["fields"]]
    assert (after["provenance"]["total"]["grounding"], after["provenance"]["total"]["confidence"]) == (
        "confirmed", "high"
    )  # fmt: skip
    assert after["review"]["needs_review"] is False
    assert [entry["action"] for entry in after["corrections"]][2:] == ["confirm"] * (len(still["fields"]) - 1)
    assert str(read_einvoice(cii.content).total) == "23.80"
    assert [(entry["field"], entry["old_value"], entry["new_value"]) for entry in trail][:2] == [
        ("total", "32.80", "23.80"), ("invoice_number", "INV-0042", "INV-0042")
    ]  # fmt: skip
    key_id = trail[0]["key_id"]
    assert key_id.startswith("key_") and trail[0]["at"].endswith("Z")
    assert ("correct", "ok", "total") in [
        (row.action, row.outcome, row.detail) for row in read_audit(context.engine, job_id=job_id)
    ]
    assert {field["path"]: field["reviewed"] for field in view["fields"]}["total"] == "correct"
    assert not {field["path"]: field for field in view["fields"]}["total"]["needs_review"]


def test_a_bad_value_is_a_422_problem_and_changes_nothing(tmp_path: Path, database_url: str) -> None:
    with served_job(tmp_path, TRUTH, database_url=database_url) as (server, context, key, job_id):
        api = client(server, key)
        answers = [
            api.post(f"/v1/jobs/{job_id}/corrections", json=body)
            for body in (
                {"field": "total", "value": "twelve"},
                {"field": "issue_date", "value": "2024-02-30"},
                {"field": "seller.nmae", "value": "x"},
                {"field": "line_items[7].amount", "value": "1"},
                {"field": "total; DROP TABLE jobs", "value": "1"},
                {"field": "total"},
                {"field": "total", "value": "1", "extra": True},
            )
        ]
        result = api.get(f"/v1/jobs/{job_id}/result").json()
        elsewhere = client(server, new_key(context, "other")[1]).post(
            f"/v1/jobs/{job_id}/corrections", json={"field": "total", "value": "1"}
        )
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
    assert "total" in answers[0].json()["detail"]
    assert elsewhere.status_code == 404
    assert result["data"]["total"] == "23.80" and "corrections" not in result
    assert read_corrections(context.engine, job_id) == []


def test_concurrent_corrections_all_land(tmp_path: Path, database_url: str) -> None:
    with served_job(tmp_path, TRUTH, database_url=database_url) as (server, context, key, job_id):
        start = threading.Barrier(4)
        codes: list[int] = []

        def correct(index: int) -> None:
            api = client(server, key)
            start.wait()
            codes.append(
                api.post(
                    f"/v1/jobs/{job_id}/corrections", json={"field": "buyer.name", "value": f"B{index}"}
                ).status_code
            )

        threads = [threading.Thread(target=correct, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = client(server, key).get(f"/v1/jobs/{job_id}/result").json()
    assert codes == [201] * 4
    assert len(result["corrections"]) == 4 == len(read_corrections(context.engine, job_id))
    olds = [entry["old_value"] for entry in result["corrections"]]
    news = [entry["new_value"] for entry in result["corrections"]]
    assert olds[1:] == news[:-1]  # each read-modify-write saw the one before it
    assert result["data"]["buyer"]["name"] == news[-1]


def test_invoice_text_is_data_never_markup(tmp_path: Path) -> None:
    reply = {**TRUTH, "seller": {"name": HOSTILE, "vat_id": "DE123456789"}}
    with served_job(tmp_path, reply) as (server, _, key, job_id):
        view = client(server, key).get(f"/v1/jobs/{job_id}/review/data")
    assert view.headers["content-type"] == "application/json"
    assert {field["path"]: field["value"] for field in view.json()["fields"]}["seller.name"] == HOSTILE
    assert json.loads(view.text)["job"]["id"] == job_id


def test_a_job_without_auth_is_reviewed_as_anonymous(tmp_path: Path) -> None:
    with served_job(tmp_path, TRUTH, auth=False) as (server, _, _key, job_id):
        made = client(server).post(f"/v1/jobs/{job_id}/corrections", json={"field": "total", "value": "23.8"})
    assert made.status_code == 201 and made.json()["key_id"] == "anonymous" and made.json()["new_value"] == "23.8"


def test_a_correction_is_checked_again_and_a_person_settles_what_is_left(tmp_path: Path, database_url: str) -> None:
    with served_job(tmp_path, {**TRUTH, "total": "32.80"}, database_url=database_url) as (server, _, key, job_id):
        api = client(server, key)
        api.post(f"/v1/jobs/{job_id}/corrections", json={"field": "total", "value": "24.80"})
        wrong = api.get(f"/v1/jobs/{job_id}/result").json()
        view = {field["path"]: field for field in api.get(f"/v1/jobs/{job_id}/review/data").json()["fields"]}
        for field in ("total_without_tax", "tax_total", "amount_due"):
            api.post(f"/v1/jobs/{job_id}/corrections", json={"field": field, "value": wrong["data"][field]})
        settled = api.get(f"/v1/jobs/{job_id}/result").json()
    rules = {finding["rule"] for finding in wrong["findings"]}
    # 24.80 is still not 20.00 + 3.80: BR-CO-15 is made again for the new value, and names the others.
    assert {"BR-CO-15", "BR-CO-16"} <= rules and "IAI-UNGROUNDED" not in rules
    assert wrong["review"]["needs_review"] and "total" not in wrong["review"]["fields"]
    assert {"total_without_tax", "tax_total"} <= set(wrong["review"]["fields"])
    assert wrong["provenance"]["total"]["grounding"] == "confirmed"
    assert wrong["provenance"]["total"]["confidence"] == "medium"  # a person's word, but an error names it
    assert wrong["provenance"]["tax_total"]["confidence"] == "low" and view["tax_total"]["needs_review"]
    assert not view["total"]["needs_review"] and view["total"]["reviewed"] == "correct"
    # Once a person has confirmed every value the error names, nothing forces review; the finding stays.
    assert not settled["review"]["needs_review"] and "BR-CO-15" in {f["rule"] for f in settled["findings"]}
