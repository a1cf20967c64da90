"""Train, evaluate and publish from the console: who may start what, live output, the report.

No test here trains (models/night-cramps.tar.gz is shared by every suite): the
jobs run in a copy of the project, and publishing goes through the real
`tools.content.publish` gate, which refuses to go on without the assistant's
token and says why.
"""

from __future__ import annotations

import re
import time

from tests.console.conftest import Console


def wait_finished(client, job_path: str, timeout: float = 120) -> str:
    """Polls the job's log partial (as htmx does) until it no longer asks to be polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        part = client.get(f"{job_path}/log", headers={"HX-Request": "true"}).text
        if "hx-trigger" not in part:
            return part
        time.sleep(1)
    raise AssertionError(f"{job_path} still runs after {timeout} s")


def test_only_sign_off_roles_publish(console: Console) -> None:
    editor = console.client("editor@example.org")
    page = editor.get("/model").text
    assert ">Train<" in page and ">Publish<" not in page
    for kind in ("publish", "rollback"):
        assert editor.post(f"/model/{kind}").status_code == 403
    assert editor.post("/model/format-disk").status_code == 404

    reviewer = console.client("reviewer@example.org")
    reviewer.get("/model")
    started = reviewer.post("/model/publish", allow_redirects=False)
    assert started.status_code == 303
    job_path = started.headers["Location"]
    assert re.fullmatch(r"/model/jobs/\d+", job_path)
    final = wait_finished(reviewer, job_path)
    # The real gate of `make publish` ran: without the token it refuses, and says how.
    assert "Failed (exit status" in final and "RASA_API_TOKEN" in final
    audit = reviewer.get("/audit.csv").text
    assert "publish started" in audit and "reviewer@example.org" in audit


def test_report_files_stay_in_the_report_folder(console: Console) -> None:
    reports = console.content.parent / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "index.html").write_text("<html><body><h1>Report</h1></body></html>")
    (console.content.parent / "secret.html").write_text("TOP-SECRET-CONTENT")
    editor = console.client("editor@example.org")
    assert "Report" in editor.get("/model/report/index.html").text
    assert "Open the latest evaluation report" in editor.get("/model").text
    for name in ("../secret.html", "%2e%2e/secret.html", ".hidden.html", "index.txt"):
        refused = editor.get(f"/model/report/{name}")
        assert refused.status_code in (404, 405) and "TOP-SECRET" not in refused.text, name
    assert console.client().get("/model/report/index.html",
                                allow_redirects=False).status_code == 303
