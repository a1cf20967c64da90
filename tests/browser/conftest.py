"""Fixtures of the browser tests: the real servers, Debian's chromium, one screenshot per test.

The demo page (tools/serve_web.py) and the assistant (tests/servers.py: real
action server, real Rasa with the trained model, SQLite) run on free loopback
ports. Chromium is Debian's /usr/bin/chromium: Playwright's own browser download
cannot work here.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.servers import ROOT, Assistant, running_assistant
from tools.processes import Server, free_port, serving
from tools.serve_web import command as serve_web_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = ROOT / "results" / "screenshots"


@dataclass
class Site:
    """The demo page at `url`, whose widget talks to `assistant`."""

    url: str
    origin: str
    assistant: Assistant


@contextlib.contextmanager
def running_site(tmp: Path) -> Iterator[Site]:
    """Starts the assistant (allowing the page's origin with --cors) and the demo page."""
    web_port = free_port()
    origin = f"http://127.0.0.1:{web_port}"
    with running_assistant(tmp, rasa_args=("--cors", origin)) as assistant:
        # The page serves the disclaimer of the assistant's own copy of the content.
        env = {**os.environ, "CONTENT_DIR": str(assistant.content)}
        web = Server("web", serve_web_command(web_port, assistant.base), f"{origin}/", env, tmp)
        with serving(web, timeout=60):
            yield Site(f"{origin}/", origin, assistant)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One assistant and demo page shared by the tests of a module."""
    with running_site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[Site]:
    """An assistant and demo page for one test alone (it may stop them)."""
    with running_site(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package "
                    "(scripts/install_system_packages.sh chromium)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def screenshot_name(node_name: str) -> str:
    """A file name for a test (parametrized ids may hold any character)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_name).strip("_") + ".png"


@pytest.fixture
def viewport() -> dict:
    """The page's size; a test overrides it with @pytest.mark.parametrize or a fixture."""
    return {"width": 1280, "height": 800}


@pytest.fixture
def page(browser: Browser, viewport: dict, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab (own cookies and sessionStorage).

    After the test, passed or failed, it saves a screenshot to
    results/screenshots/<test name>.png and checks the page raised no uncaught
    JavaScript error.
    """
    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    errors: List[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / screenshot_name(request.node.name)))
    finally:
        context.close()
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"
