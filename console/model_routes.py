"""The console's pages for the model: the inbox, and training, evaluating and publishing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import User
from console.jobs import SIGN_OFF_JOBS, JobBusy
from console.jobs import TITLES as JOB_TITLES
from console.pages import Pages, redirect
from console.services import Services
from tools.content.inbox import InboxError
from tools.content.yaml_lines import YamlFileError

#: The files of an evaluation report the console serves, with their types.
REPORT_TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png", ".css": "text/css",
                ".svg": "image/svg+xml"}


def report_path(folder: Path, name: str) -> Optional[Path]:
    """A file of the evaluation report folder, or None (nothing outside it, no hidden files)."""
    if not name or "\\" in name or "\0" in name or any(
            part.startswith(".") for part in name.split("/")):
        return None
    base = folder.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path if path.suffix.lower() in REPORT_TYPES else None


def add_model_routes(app: Sanic, services: Services, pages: Pages) -> None:
    """Adds the inbox and the train, evaluate and publish pages to `app`."""
    def inbox_page(request: Request, done: Optional[List[str]] = None, error: str = "",
                   status: int = 200) -> HTTPResponse:
        view = services.inbox.view()
        titles = {entry.id: entry.title for entry in services.store.entries()}
        return pages.render(request, "inbox.html", status=status, groups=view.groups,
                      problem=view.problem, titles=titles, done=done or [], error=error)

    @app.get("/inbox")
    async def inbox(request: Request) -> HTTPResponse:
        return inbox_page(request)

    @app.post("/inbox/decide")
    async def inbox_decide(request: Request) -> HTTPResponse:
        form = request.form or {}
        item_id = str(form.get("item_id") or "")
        decision = str(form.get("decision") or "")
        topic = str(form.get("topic") or "") or None
        try:
            done = services.inbox.decide(item_id, decision, topic)
        except (InboxError, YamlFileError) as problem:
            return inbox_page(request, error=str(problem), status=409)
        with services.engine.begin() as connection:
            services.audit.record(connection, request.ctx.user.email, f"inbox {decision}",
                                  topic_id=topic if decision == "assign" else None,
                                  comment="\n".join(done))
        return inbox_page(request, done=done)

    # -- train, evaluate, publish ---------------------------------------------------------

    reports = services.jobs.root / "reports"

    @app.get("/model")
    async def model(request: Request) -> HTTPResponse:
        return pages.render(request, "model.html", jobs=services.jobs.listed(), titles=JOB_TITLES,
                      sign_off_jobs=SIGN_OFF_JOBS,
                      report=(reports / "index.html").is_file())

    @app.post("/model/<kind:str>")
    async def start_job(request: Request, kind: str) -> HTTPResponse:
        if kind not in services.jobs.commands:
            return pages.refuse(request, 404, "There is no such job.")
        user: User = request.ctx.user
        if kind in SIGN_OFF_JOBS and not user.can_sign_off:
            return pages.refuse(request, 403, "Only a clinical reviewer or an admin can publish or "
                          "roll back.")
        try:
            job = services.jobs.start(kind, user.email)
        except JobBusy as busy:
            return pages.refuse(request, 409, f"{busy}; wait for it to finish.")
        with services.engine.begin() as connection:
            services.audit.record(connection, user.email, f"{kind} started",
                                  comment=f"job {job.id}, log {job.log.name}")
        return redirect(request, f"/model/jobs/{job.id}")

    @app.get("/model/jobs/<job_id:int>")
    async def job_page(request: Request, job_id: int) -> HTTPResponse:
        job = services.jobs.get(job_id)
        if job is None:
            return pages.refuse(request, 404, "There is no such job (the console restarted?).")
        return pages.render(request, "job.html", job=job,
                      report=job.kind == "evaluate" and (reports / "index.html").is_file())

    @app.get("/model/jobs/<job_id:int>/log")
    async def job_log(request: Request, job_id: int) -> HTTPResponse:
        job = services.jobs.get(job_id)
        if job is None:
            return pages.refuse(request, 404, "There is no such job.")
        return pages.render(request, "_job_log.html", job=job)

    @app.get("/model/report/<name:path>")
    async def report_file(request: Request, name: str) -> HTTPResponse:
        path = report_path(reports, name)
        if path is None:
            return pages.refuse(request, 404, "There is no such report file; run an evaluation.")
        # The report's own styles are inline; it has no scripts.
        headers = {"Content-Security-Policy": "default-src 'none'; img-src 'self' data:; "
                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"}
        return await response.file(str(path), headers=headers,
                                   mime_type=REPORT_TYPES[path.suffix.lower()])

    async def stop_jobs(_app: Sanic, _loop: Any) -> None:
        services.jobs.stop_all()

    app.register_listener(stop_jobs, "before_server_stop")
