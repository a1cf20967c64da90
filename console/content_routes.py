"""The console's content pages: topic forms, drafts and sign-off, audit log, review dates."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any, Dict, List, Mapping, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console import topic_form
from console.accounts import User
from console.content_files import UnknownTopic
from console.drafts import APPROVED, PENDING, REJECTED, Draft, DraftError, NotAllowed
from console.pages import Pages, redirect
from console.preview import GROUP_NAMES, bubbles
from console.review_dates import DUE_SOON_DAYS, due
from console.services import Services
from nightcramps.content_store import KNOWN_GROUPS, ContentError

#: Comments are kept to this many characters.
MAX_COMMENT = 2000


def diff_lines(before: str, after: str) -> List[Dict[str, str]]:
    """A unified diff of two files, as lines with a kind (add, remove, context, header)."""
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), "approved",
                                     "draft", n=2, lineterm=""):
        if line.startswith(("---", "+++", "@@")):
            kind = "header"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        else:
            kind = "context"
        lines.append({"kind": kind, "text": line})
    return lines


def add_content_routes(app: Sanic, services: Services, pages: Pages) -> None:
    """Adds the topics, drafts, audit and review pages to `app`."""
    def store_error() -> Optional[str]:
        try:
            services.store.entries()
        except ContentError as broken:
            return str(broken)
        last = services.store.last_error
        return str(last) if last else None

    @app.get("/")
    async def home(request: Request) -> HTTPResponse:
        pending: Dict[str, int] = {}
        for draft in services.drafts.listed(PENDING):
            pending[draft.topic_id] = pending.get(draft.topic_id, 0) + 1
        entries = {entry.id: entry for entry in services.store.entries()}
        topics = [{"id": topic_id, "title": entries[topic_id].title if topic_id in entries
                   else topic_id, "pending": pending.get(topic_id, 0)}
                  for topic_id in services.files.ids()]
        today = dt.date.today()
        return pages.render(request, "home.html", topics=topics, store_error=store_error(),
                      due_count=len(due(services.store.entries(), today)))

    def topic_page(request: Request, form: topic_form.TopicForm, errors: Mapping[str, str],
                   status: int = 200) -> HTTPResponse:
        sources = services.store.sources
        chosen = [source for source in form.sources]
        source_options = [(source_id, sources[source_id].name if source_id in sources
                           else source_id, source_id in form.sources)
                          for source_id in chosen + [s for s in sources if s not in chosen]]
        others = [topic_id for topic_id in services.files.ids() if topic_id != form.topic_id]
        related_options = [(topic_id, topic_id in form.related)
                           for topic_id in form.related + [t for t in others
                                                           if t not in form.related]]
        return pages.render(request, "topic.html", status=status, form=form, errors=errors,
                      groups=[(group, GROUP_NAMES.get(group, group)) for group in KNOWN_GROUPS],
                      source_options=source_options, related_options=related_options,
                      review_fields=topic_form.review_fields(),
                      drafts=services.drafts.listed(topic_id=form.topic_id)[:10],
                      preview=preview_of(form.topic_id, topic_form.apply(
                          services.files.read(form.topic_id), form)) if not errors else None)

    def preview_of(topic_id: str, text: str) -> Optional[List[Any]]:
        entry = topic_form.entry_of(topic_id, text, services.content_dir)
        if entry is None:
            return None
        return bubbles(entry, services.store.disclaimer, services.store.sources)

    def read_topic(topic_id: str) -> Optional[str]:
        try:
            return services.files.read(topic_id)
        except UnknownTopic:
            return None

    @app.get("/topics/<topic_id:str>")
    async def topic(request: Request, topic_id: str) -> HTTPResponse:
        text = read_topic(topic_id)
        if text is None:
            return pages.refuse(request, 404, "There is no such topic.")
        return topic_page(request, topic_form.read_form(topic_id, text), {})

    def submitted(request: Request, topic_id: str, base: str
                  ) -> tuple[topic_form.TopicForm, str, Dict[str, str]]:
        fields = {key: list(values) for key, values in (request.form or {}).items()}
        form = topic_form.form_from_fields(topic_id, fields)
        form.intent = topic_form.read_form(topic_id, base).intent
        text = topic_form.apply(base, form)
        return form, text, topic_form.validate(topic_id, text, services.content_dir)

    @app.post("/topics/<topic_id:str>/preview")
    async def preview(request: Request, topic_id: str) -> HTTPResponse:
        base = read_topic(topic_id)
        if base is None:
            return pages.refuse(request, 404, "There is no such topic.")
        _form, text, errors = submitted(request, topic_id, base)
        return pages.render(request, "preview.html", errors=errors,
                      preview=None if errors else preview_of(topic_id, text))

    @app.post("/topics/<topic_id:str>")
    async def save(request: Request, topic_id: str) -> HTTPResponse:
        base = read_topic(topic_id)
        if base is None:
            return pages.refuse(request, 404, "There is no such topic.")
        form, text, errors = submitted(request, topic_id, base)
        if errors:
            return topic_page(request, form, errors, status=422)
        if text == base:
            return topic_page(request, form, {"-": "Nothing changed: there is no draft to save."},
                              status=422)
        draft = services.drafts.save(request.ctx.user, topic_id, text)
        return redirect(request, f"/drafts/{draft.id}")

    @app.get("/drafts")
    async def drafts(request: Request) -> HTTPResponse:
        listed = services.drafts.listed()
        return pages.render(request, "drafts.html",
                      pending=[d for d in listed if d.status == PENDING],
                      decided=[d for d in listed if d.status != PENDING][:50])

    def draft_page(request: Request, draft: Draft, error: str = "", status: int = 200
                   ) -> HTTPResponse:
        user: User = request.ctx.user
        try:
            services.drafts.check_sign_off(user, draft)
            may_decide, why_not = draft.status == PENDING, ""
        except NotAllowed as refusal:
            may_decide, why_not = False, str(refusal)
        current = read_topic(draft.topic_id) or ""
        return pages.render(request, "draft.html", status=status, draft=draft, error=error,
                      may_decide=may_decide, why_not=why_not,
                      stale=draft.status == PENDING and current != draft.base_text,
                      diff=diff_lines(draft.base_text, draft.text),
                      preview=preview_of(draft.topic_id, draft.text),
                      statuses={PENDING: "Waiting for sign-off", APPROVED: "Approved",
                                REJECTED: "Rejected"})

    @app.get("/drafts/<draft_id:int>")
    async def draft(request: Request, draft_id: int) -> HTTPResponse:
        found = services.drafts.get(draft_id)
        if found is None:
            return pages.refuse(request, 404, "There is no such draft.")
        return draft_page(request, found)

    def decide(request: Request, draft_id: int, approve: bool) -> HTTPResponse:
        found = services.drafts.get(draft_id)
        if found is None:
            return pages.refuse(request, 404, "There is no such draft.")
        user: User = request.ctx.user
        comment = str((request.form or {}).get("comment") or "").strip()[:MAX_COMMENT]
        try:
            services.drafts.check_sign_off(user, found)
        except NotAllowed as refusal:
            return pages.refuse(request, 403, str(refusal))
        if not comment:
            return draft_page(request, found, "Write a comment for the author.", 422)
        try:
            if approve:
                def still_valid(checked: Draft) -> Optional[str]:
                    problems = topic_form.validate(checked.topic_id, checked.text,
                                                   services.content_dir)
                    return "; ".join(f"{k}: {v}" for k, v in problems.items()) or None

                services.drafts.approve(draft_id, user, comment, still_valid)
            else:
                services.drafts.reject(draft_id, user, comment)
        except NotAllowed as refusal:
            return pages.refuse(request, 403, str(refusal))
        except DraftError as problem:
            return draft_page(request, found, str(problem), 409)
        return redirect(request, f"/drafts/{draft_id}")

    @app.post("/drafts/<draft_id:int>/approve")
    async def approve(request: Request, draft_id: int) -> HTTPResponse:
        return decide(request, draft_id, approve=True)

    @app.post("/drafts/<draft_id:int>/reject")
    async def reject(request: Request, draft_id: int) -> HTTPResponse:
        return decide(request, draft_id, approve=False)

    @app.get("/audit")
    async def audit(request: Request) -> HTTPResponse:
        return pages.render(request, "audit.html", records=services.audit.records(200))

    @app.get("/audit.csv")
    async def audit_csv(request: Request) -> HTTPResponse:
        return response.text(services.audit.csv_text(), content_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition":
                                      'attachment; filename="console-audit.csv"'})

    @app.get("/reviews")
    async def reviews(request: Request) -> HTTPResponse:
        today = dt.date.today()
        return pages.render(request, "reviews.html", today=today, within=DUE_SOON_DAYS,
                      due=due(services.store.entries(), today))
