"""The console's SVG charts: accessible structure, escaping, contrast, and the page."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2
import pytest
from markupsafe import Markup
from rasa.shared.core.domain import Domain
from sqlalchemy import create_engine

from console.analytics import Analytics, Period
from console.analytics_page import analytics_context, charts
from console.analytics_schema import ensure_analytics_schema
from console.charts import (
    PALETTE,
    TEXT_COLOUR,
    Series,
    axis_maximum,
    bar_chart,
    contrast_ratio,
    line_chart,
    nice_ceiling,
)
from stores.privacy_tracker_store import PrivacySQLTrackerStore
from tests.unit.test_analytics import DAY0, DAY2, save_known

TEMPLATES = Path(__file__).resolve().parents[2] / "console" / "templates"
HOSTILE = '<script>alert("x")</script> & "quotes"'
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: Markup) -> ET.Element:
    """The chart as XML (it must be well-formed: escaped text, closed tags)."""
    return ET.fromstring(str(markup))


@pytest.mark.parametrize("draw", [bar_chart, line_chart])
def test_accessible_structure(draw) -> None:
    chart = draw("chart-a", "Answers per day", "Two days of answers.", ["Mon", "Tue"],
                 [Series("Answers", [3, 5]), Series("Offers", [1, 0])], "Day")
    assert isinstance(chart, Markup)
    figure = parse(chart)
    assert figure.tag == "figure" and figure.get("id") == "chart-a"
    assert figure.find("figcaption/h2").text == "Answers per day"
    svg = figure.find(f"{SVG}svg")
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-a-title chart-a-desc"
    assert svg.find(f"{SVG}title").get("id") == "chart-a-title"
    assert svg.find(f"{SVG}title").text == "Answers per day"
    assert svg.find(f"{SVG}desc").text == "Two days of answers."
    table = figure.find("details/table")
    assert table.find("caption").text == "Answers per day"
    assert [th.text for th in table.findall("thead/tr/th")] == ["Day", "Answers", "Offers"]
    assert all(th.get("scope") == "col" for th in table.findall("thead/tr/th"))
    rows = table.findall("tbody/tr")
    assert [(r.find("th").text, [td.text for td in r.findall("td")]) for r in rows] == [
        ("Mon", ["3", "1"]), ("Tue", ["5", "0"])]
    assert all(r.find("th").get("scope") == "row" for r in rows)


@pytest.mark.parametrize("draw", [bar_chart, line_chart])
def test_text_is_escaped(draw) -> None:
    chart = draw(f'id"{HOSTILE}', HOSTILE, HOSTILE, [HOSTILE], [Series(HOSTILE, [1])], HOSTILE)
    text = str(chart)
    assert "<script>" not in text and 'alert("x")' not in text
    assert "&lt;script&gt;" in text
    figure = parse(chart)  # still well-formed
    assert figure.find(f"{SVG}svg/{SVG}title").text == HOSTILE  # the reader hears the text
    assert figure.get("id").startswith("id--script-")


def test_a_template_inserts_the_chart_once_not_twice_escaped() -> None:
    environment = jinja2.Environment(autoescape=True)
    chart = bar_chart("c", "T & U", "D", ["a"], [Series("n", [1])])
    rendered = environment.from_string("{{ chart }}").render(chart=chart)
    assert rendered == str(chart) and "T &amp; U" in rendered


def test_empty_charts_say_so() -> None:
    for draw in (bar_chart, line_chart):
        chart = draw("c", "Nothing", "No data.", [], [Series("n", [])])
        assert "No data in this period" in str(chart)
        parse(chart)


def test_bars_are_proportional() -> None:
    figure = parse(bar_chart("c", "T", "D", ["a", "b"], [Series("n", [10, 5])]))
    widths = [float(rect.get("width")) for rect in figure.iter(f"{SVG}rect")
              if rect.get("fill") == PALETTE[0]]
    assert widths[0] == pytest.approx(2 * widths[1])


def test_series_must_match_labels() -> None:
    with pytest.raises(ValueError):
        line_chart("c", "T", "D", ["a", "b"], [Series("n", [1])])
    with pytest.raises(ValueError):
        bar_chart("c", "T", "D", ["a"], [])


def test_colours_have_enough_contrast() -> None:
    assert contrast_ratio("#000000") == pytest.approx(21)
    for colour in (*PALETTE, TEXT_COLOUR):
        assert contrast_ratio(colour) >= 4.5, colour


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 1.75, 7, 12, 230, 2600)] == [
        1, 0.5, 1, 2, 10, 20, 250, 5000]
    assert [axis_maximum(v) for v in (0, 3, 7, 10, 374)] == [4, 4, 8, 20, 400]


def test_the_page_renders_charts_and_the_form(tmp_path: Path) -> None:
    """analytics.html with a stand-in base layout, on the known conversations."""
    store = PrivacySQLTrackerStore(Domain.empty(), dialect="sqlite",
                                   db=str(tmp_path / "tracker.db"))
    save_known(store)
    ensure_analytics_schema(store.engine)
    environment = jinja2.Environment(autoescape=True, loader=jinja2.ChoiceLoader([
        jinja2.DictLoader({"base.html": "<title>{% block title %}{% endblock %}</title>"
                                        "<main>{% block main %}{% endblock %}</main>"}),
        jinja2.FileSystemLoader(TEMPLATES)]))
    template = environment.get_template("analytics.html")
    context = analytics_context(Analytics(store.engine), DAY0.isoformat(), DAY2.isoformat(),
                                dt.date(2026, 12, 1), {"causes": "Causes <of> cramps"})
    page = template.render(**context)
    assert page.count('role="img"') == 6
    assert 'name="start" type="date" value="2026-11-02"' in page
    assert "Causes &lt;of&gt; cramps" in page and "<of>" not in page
    assert "jane" not in page  # no user text, redacted or not
    assert "<td>15</td>" in page  # user messages in the period

    bad = analytics_context(Analytics(store.engine), '"><script>', None, dt.date(2026, 12, 1))
    page = template.render(**bad)
    assert bad["report"] is None and 'role="alert"' in page
    assert "<script>" not in page and "&#34;&gt;&lt;script&gt;" in page


def test_charts_of_a_report_have_unique_ids(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    ensure_analytics_schema(engine)
    report = Analytics(engine).report(Period(DAY0, DAY2))
    ids = [parse(chart).get("id") for chart in charts(report, {})]
    assert len(ids) == len(set(ids)) == 6


def test_a_database_without_the_analytics_schema_gets_a_message(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    context = analytics_context(Analytics(engine), None, None, dt.date(2026, 12, 1))
    assert context["report"] is None and "console.migrate" in context["error"]
