"""The console and the send page in a real browser (Debian's chromium, driven by Playwright):
sign in to /admin, make a pass code, send with it from /send and watch the message reach
``delivered``; a screenshot of every page visited is kept as a test artifact.

Playwright drives the system's chromium (``/usr/bin/chromium``); it never downloads a
browser. Without playwright or chromium the test skips and says why (fails under
``SMSGATE_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveServer, need_peer

pytestmark = pytest.mark.timeout(180)

CHROMIUM = Path("/usr/bin/chromium")
ADMIN, PASSWORD = "operator", "a long browser password"
DESTINATION = "447700900123"
#: Generous: the simulator reports after a second, the send page asks every 1.5 seconds.
WAIT_MS = 30_000


def artifacts() -> Path:
    default = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
    folder = Path(os.environ.get("SMSGATE_ARTIFACTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    need_peer(
        importlib.util.find_spec("playwright") is not None,
        "the playwright package is not installed (pip install -e '.[dev]')",
    )
    need_peer(
        CHROMIUM.exists(), f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    live.cli("admin", "set-password", ADMIN, "--password", PASSWORD)
    return live.start()


def test_a_pass_code_made_in_the_console_sends_from_the_send_page(
    server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    shots = artifacts()
    context = browser.new_context(
        base_url=server.base_url,
        http_credentials={"username": ADMIN, "password": PASSWORD},
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    # Anything the Content-Security-Policy blocked, a script error or a failed load (but the
    # favicon the browser asks for on its own) shows up here.
    problems: list[str] = []

    def console_error(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def failed(response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("console", console_error)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("response", failed)
    try:
        # The dashboard.
        page.goto("/admin")
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.locator("#channels")).to_contain_text("simulator")
        expect(page.locator("#channels .up")).to_have_text("up")
        expect(page.locator("#volume-chart")).to_be_visible()
        page.screenshot(path=shots / "1-dashboard.png", full_page=True)

        # A pass code, shown once.
        page.get_by_role("link", name="Pass codes").click()
        expect(page.locator("h1")).to_have_text("Pass codes")
        form = page.locator("#create-passcode")
        form.locator("input[name=max_messages]").fill("5")
        form.locator("input[name=label]").fill("browser <test>")
        page.locator("#make-passcode").click()
        secret = page.locator("#secret")
        expect(secret).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$"))
        code = secret.inner_text()
        row = page.locator("#passcodes tbody tr").first
        expect(row.locator(".status")).to_have_text("active")
        expect(row.locator(".label")).to_have_text("browser <test>")
        page.screenshot(path=shots / "2-passcodes.png", full_page=True)
        page.reload()
        expect(page.locator("#secret")).to_have_count(0)  # never again

        # The send page, with that code.
        page.goto("/send")
        page.locator("#code").fill(code)
        page.locator("#dst").fill(DESTINATION)
        page.locator("#text").fill("Hello from the browser")
        expect(page.locator("#counter")).to_contain_text("GSM")
        page.screenshot(path=shots / "3-send-before.png", full_page=True)
        page.locator("#submit").click()
        state = page.locator("#results tbody tr td[data-key=state]").first
        expect(page.locator("#results tbody tr td[data-key=to]").first).to_have_text(DESTINATION)
        expect(state).to_have_text("delivered", timeout=WAIT_MS)
        expect(page.locator("#error")).to_have_text("")
        page.screenshot(path=shots / "4-send-after.png", full_page=True)

        # The message in the console: found by its number, with its state changes.
        page.goto("/admin/messages")
        page.locator("#search input[name=number]").fill(DESTINATION)
        page.locator("#search button").click()
        results = page.locator("#results tbody tr")
        expect(results).to_have_count(1)
        expect(results.first).to_contain_text("delivered")
        page.screenshot(path=shots / "5-messages.png", full_page=True)
        results.first.get_by_role("link", name="details").click()
        expect(page.locator("#to-number")).to_have_text(DESTINATION)
        expect(page.locator("#text")).to_have_text("Hello from the browser")
        events = page.locator("#events tbody")
        expect(events).to_contain_text("sent")
        expect(events).to_contain_text("delivered")
        page.screenshot(path=shots / "6-message.png", full_page=True)

        # The code counted the message.
        page.goto("/admin/passcodes")
        expect(page.locator("#passcodes tbody tr").first.locator("td.num")).to_have_text("1 / 5")
        page.screenshot(path=shots / "7-passcodes-after.png", full_page=True)
    except Exception:
        page.screenshot(path=shots / "failure.png", full_page=True)
        raise
    finally:
        context.close()
    assert problems == []
