"""The analytics page's template context: the period form, the figures and the charts.

The console's route for `GET /analytics` calls

    context = analytics_context(Analytics(engine), request.args.get("start"),
                                request.args.get("end"), today=<UTC date>,
                                titles=<content id -> topic title>)

and renders `analytics.html` with it (plus whatever the base layout needs).
The form is a GET (it changes nothing, so it carries no CSRF token).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Mapping, Optional

import sqlalchemy as sa
from markupsafe import Markup

from console.analytics import Analytics, Period, Report, parse_period
from console.charts import Series, bar_chart, line_chart

logger = logging.getLogger(__name__)

#: Days shown when the form is blank.
DEFAULT_DAYS = 30
#: Shown when the queries fail (e.g. `python -m console.migrate` has not run yet).
UNAVAILABLE = ("The figures cannot be read from the database right now. If the console "
               "was just installed or upgraded, run: python -m console.migrate")


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def charts(report: Report, titles: Mapping[str, str]) -> List[Markup]:
    """The page's six charts for a report, in page order."""
    period = report.period
    days = [day.isoformat() for day in period.dates()]
    span = f"from {period.start} to {period.end}"
    volume = report.volume
    fallbacks = report.fallbacks

    def title(topic: str) -> str:
        return titles.get(topic, topic)

    busiest = max(volume.days, key=lambda d: d.messages, default=None)
    red_total = sum(count for _, count in report.red_flags)
    topics = report.topics
    channels = report.channels
    feedback = report.feedback
    channel_total = sum(count for _, count in channels) or 1
    return [
        line_chart(
            "chart-volume", "Conversations and messages per day",
            f"{volume.conversations:,} conversations and {volume.messages:,} user messages "
            f"{span}" + (f"; the busiest day was {busiest.day} with {busiest.messages:,} "
                         f"messages." if busiest and busiest.messages else "."),
            days, [Series("Conversations", [d.conversations for d in volume.days]),
                   Series("Messages", [d.messages for d in volume.days])], "Day"),
        bar_chart(
            "chart-topics", "Top topics answered",
            (f"The {len(topics)} topics answered most often {span}; the first is "
             f"{title(topics[0][0])} with {topics[0][1]:,} answers." if topics
             else f"No answers {span}."),
            [title(topic) for topic, _ in topics],
            [Series("Answers", [count for _, count in topics])], "Topic"),
        line_chart(
            "chart-fallbacks", "Fallback and \"did you mean\" rate per day",
            f"Over the period, {fallbacks.fallback_rate:.1%} of messages fell back "
            f"(not understood) and the assistant offered \"did you mean\" topics after "
            f"{fallbacks.offer_rate:.1%} of messages.",
            days, [Series("Fallback %", [100 * d.fallbacks / d.messages if d.messages else 0.0
                                         for d in fallbacks.days]),
                   Series("\"Did you mean\" %", [100 * d.offers / d.messages if d.messages
                                                 else 0.0 for d in fallbacks.days])],
            "Day", _percent),
        line_chart(
            "chart-red-flags", "Red-flag (urgent care) answers per day",
            f"{red_total:,} urgent-care answers {span}.",
            days, [Series("Urgent-care answers", [count for _, count in report.red_flags])],
            "Day"),
        bar_chart(
            "chart-feedback", "Feedback per topic",
            (f"Replies to \"Did that answer help?\" {span}, for {len(feedback)} topics: "
             f"{sum(f.positive for f in feedback):,} \"Yes, it helped\" and "
             f"{sum(f.negative for f in feedback):,} \"Not really\"." if feedback
             else f"No feedback {span}."),
            [title(f.topic) for f in feedback],
            [Series("Yes, it helped", [f.positive for f in feedback]),
             Series("Not really", [f.negative for f in feedback])], "Topic"),
        bar_chart(
            "chart-channels", "Channel mix (conversations per channel)",
            ("; ".join(f"{name} {100 * count / channel_total:.0f}%" for name, count in channels)
             + f" of the conversations {span}." if channels else f"No conversations {span}."),
            [name for name, _ in channels],
            [Series("Conversations", [count for _, count in channels])], "Channel"),
    ]


def analytics_context(analytics: Analytics, start: Optional[str], end: Optional[str],
                      today: dt.date, titles: Optional[Mapping[str, str]] = None
                      ) -> Dict[str, Any]:
    """Everything `analytics.html` shows, for the form's `start` and `end` (may be blank).

    Args:
        analytics: The queries, on the tracker store's database.
        start: The form's start date (YYYY-MM-DD), or None/blank.
        end: The form's end date, or None/blank.
        today: The current UTC date (the default period ends on it).
        titles: Content id -> topic title, to label topics (ids are shown otherwise).

    Returns:
        `start`, `end` (the form's values, as entered when invalid), `error`
        (a message, or None), `report` (None on error) and `charts` (a list of
        `Markup`, empty on error).
    """
    try:
        period: Period = parse_period(start, end, today, DEFAULT_DAYS)
    except ValueError as error:
        return {"start": start or "", "end": end or "", "error": str(error), "report": None,
                "charts": []}
    try:
        report = analytics.report(period)
    except sa.exc.SQLAlchemyError:
        logger.exception("Analytics query failed")
        return {"start": period.start.isoformat(), "end": period.end.isoformat(),
                "error": UNAVAILABLE, "report": None, "charts": []}
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), "error": None,
            "report": report, "charts": charts(report, titles or {})}
