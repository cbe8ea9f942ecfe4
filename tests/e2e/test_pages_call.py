"""Tier 3: the pages in a real headless browser while real SIP calls run.

The real daemon (`switchboard run`, its own schema, the API on a free port), the
lab's agents and a VIP customer whose CRM name is ``<script>alert(1)</script>``;
desk phones 100-102 register; sipp calls the sales line (flows/agents.yaml): the
owner (101) rings for 6 s, then 102 answers. Chromium (Debian's, through
playwright) logs in on the login page and has agent 102's screen pop and the
wallboard open: the screen pop shows the customer, as text, and the path the
caller took; the wallboard sees the caller wait, then talk, then counts the
answered call. Screenshots: artifacts/pages/tier3-*.png.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect

from labkit.daemon import free_port, stop_and_drop
from labkit.lab import finish_sipp, run_caller, wait_for_channel_count
from labkit.sipp_scenarios import start_desk_phones
from tests.browserkit import screenshot_path, sync_browser
from tests.e2e.test_agents_call import LAB_AGENTS, LAB_CUSTOMERS, Office

pytestmark = pytest.mark.e2e

SALES = "74951234573"
SLOW = 20_000  # ms: the call's own pace (greeting, the owner's 6 s), not the page's
HOSTILE = "<script>alert(1)</script>"
TOKEN = "pages-token-0123456789"


class PagesOffice(Office):
    def __init__(self, root: Path, name: str) -> None:
        super().__init__(root, name)
        self.port = free_port()


@pytest.fixture
def sales(lab: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PagesOffice]:
    """The daemon with its API on a free port; the lab's agents, logged in; the lab's
    VIP customer, but named with a script tag (the lab's notes hold HTML too)."""
    one = PagesOffice(tmp_path, request.node.name)
    with one.config.open("a", encoding="utf-8") as config:
        config.write(
            f"api:\n  listen: 127.0.0.1:{one.port}\n"
            f"  tokens:\n    - {{name: pages, token: {TOKEN}, scopes: [pages]}}\n"
        )
    rows = LAB_CUSTOMERS.read_text(encoding="utf-8").splitlines()
    hostile = tmp_path / "customers.csv"
    hostile.write_text("\n".join([rows[0], rows[1].replace('"Petrov, Ivan"', HOSTILE)]) + "\n")
    one.switchboard("import", "agents", str(LAB_AGENTS))
    one.switchboard("import", "customers", str(hostile))
    for agent in ("a100", "a101", "a102"):
        one.switchboard("agent", "login", agent)
    yield one
    stop_and_drop([one])


def watch(page: Page) -> list[str]:
    trouble: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        trouble.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            trouble.append(f"console: {message.text}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    return trouble


def test_a_call_pops_up_on_the_agents_screen_and_moves_the_wallboard(sales: PagesOffice) -> None:
    sales.daemon.start()
    phones = start_desk_phones("pages_vip", {"100": None, "101": None, "102": 1500})
    try:
        with sync_browser() as chromium:
            trouble = follow_the_call(chromium, f"http://127.0.0.1:{sales.port}")
    except BaseException:
        for phone in phones.values():  # (the next test needs the desk phones' ports)
            phone.kill()
            finish_sipp(phone)
        raise
    assert trouble == []
    assert finish_sipp(phones["102"], timeout=20) == 0  # it took the call, cleanly
    assert finish_sipp(phones["101"], timeout=20) == 0  # it rang, then was CANCELled
    phones["100"].kill()
    finish_sipp(phones["100"])
    assert wait_for_channel_count(0) == 0


def log_in(page: Page, base: str, path: str) -> None:
    page.goto(base + path)
    expect(page).to_have_url(f"{base}/login?next={path}")
    page.fill("#token", TOKEN)
    page.click("#login-button")
    expect(page).to_have_url(base + path)
    expect(page.locator("#status")).to_have_text("live")


def follow_the_call(chromium: Browser, base: str) -> list[str]:
    """Agent 102's screen pop and the wallboard while the VIP calls; what went wrong
    in the pages (dialogs, console errors)."""
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    screen = context.new_page()
    trouble = watch(screen)
    log_in(screen, base, "/pages/screen/a102")
    expect(screen.locator("#idle")).to_be_visible()
    wallboard = context.new_page()  # (the cookie is the context's)
    trouble += watch(wallboard)
    wallboard.goto(f"{base}/pages/wallboard")
    expect(wallboard.locator("#status")).to_have_text("live")
    expect(wallboard.locator("#answered")).to_have_text("0")
    expect(wallboard.locator("#waiting")).to_have_text("0")

    caller: list[subprocess.CompletedProcess[bytes]] = []
    # (the hold counts from the greeting: about 12 s of talk after 102 answers)
    calling = threading.Thread(target=lambda: caller.append(run_caller(SALES, hold_ms=24000)))
    calling.start()
    try:
        expect(wallboard.locator("#waiting")).to_have_text("1", timeout=SLOW)  # the owner rings
        wallboard.screenshot(path=screenshot_path("tier3-wallboard-waiting"))
        name = screen.locator("#customer-name")
        expect(name).to_have_text(HOSTILE, timeout=SLOW)  # offered to 102, then answered
        expect(screen.locator("#path li")).to_have_text(["sales_welcome", "sales_agents"])
        expect(screen.locator("#segment")).to_have_text("vip")
        expect(screen.locator("#notes")).to_have_text("<b>prefers mornings</b>")
        expect(screen.locator("#call-state")).to_have_text("On call", timeout=SLOW)
        assert name.inner_html() == "&lt;script&gt;alert(1)&lt;/script&gt;"
        assert screen.locator("script").count() == 2  # ours only
        screen.screenshot(path=screenshot_path("tier3-screen-pop"))
        expect(wallboard.locator("#talking")).to_have_text("1")
        expect(wallboard.locator("#waiting")).to_have_text("0")
    finally:
        calling.join(timeout=60)
    (done,) = caller
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    expect(screen.locator("#idle")).to_be_visible(timeout=SLOW)
    expect(wallboard.locator("#answered")).to_have_text("1", timeout=SLOW)  # the call log
    expect(wallboard.locator("#service-level")).to_have_text("100%")  # answered within 20 s
    wallboard.screenshot(path=screenshot_path("tier3-wallboard-after"))
    context.close()
    return trouble
