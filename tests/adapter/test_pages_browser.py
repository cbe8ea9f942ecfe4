"""Tier 2: the pages in a real headless browser (Debian chromium + playwright); the
app runs in this test's loop and the test publishes the call events itself.

The browser logs in through the login page, the agent's screen pop shows the call
offered to them (customer, path, card) as it happens, a customer named
``<script>alert(1)</script>`` shows as text (live and server-rendered: no dialog,
no script of its own), and the wallboard's counters follow. Screenshots go to
artifacts/pages/.
"""

from __future__ import annotations

from playwright.async_api import ConsoleMessage, Dialog, Page, expect

from switchboard.engine import Phase
from switchboard.live import Kind
from tests.adapter.test_pages import HOSTILE, Site, site
from tests.apikit import TOKEN
from tests.browserkit import browser, screenshot_path


def watch(page: Page) -> list[str]:
    """Dialogs (an injected alert) and console errors (e.g. the CSP refusing something)."""
    trouble: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        trouble.append(f"dialog: {dialog.message}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            trouble.append(f"console: {message.text} ({message.location.get('url')})")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    return trouble


async def log_in(page: Page, s: Site, path: str) -> None:
    await page.goto(s.origin + path)
    await expect(page).to_have_url(s.origin + "/login?next=" + path)
    await page.fill("#token", TOKEN)
    await page.click("#login-button")
    await expect(page).to_have_url(s.origin + path)
    await expect(page.locator("#status")).to_have_text("live")


async def test_the_screen_pop_and_wallboard_follow_calls_in_a_real_browser() -> None:
    async with site() as s, browser() as chromium:
        context = await chromium.new_context(viewport={"width": 1100, "height": 800})
        screen = await context.new_page()
        trouble = watch(screen)
        await log_in(screen, s, "/pages/screen/a102")
        await expect(screen.locator("#idle")).to_be_visible()
        wallboard = await context.new_page()  # (the cookie is the context's)
        trouble += watch(wallboard)
        await wallboard.goto(s.origin + "/pages/wallboard")
        await expect(wallboard.locator("#status")).to_have_text("live")
        await expect(wallboard.locator("#answered")).to_have_text("2")
        await expect(wallboard.locator("#service-level")).to_have_text("33%")
        await expect(wallboard.locator("#waiting")).to_have_text("0")

        s.publish(Kind.PHASE, Phase.DIALING)
        await expect(wallboard.locator("#waiting")).to_have_text("1")
        s.publish(Kind.OFFERED, Phase.DIALING, "PJSIP/102")
        name = screen.locator("#customer-name")
        await expect(name).to_have_text(HOSTILE)
        await expect(screen.locator("#call-state")).to_have_text("Ringing")
        await expect(screen.locator("#path li")).to_have_text(["welcome", "main 1", "sales"])
        await expect(screen.locator("#churn")).to_have_text("42%")  # the card, read after
        await expect(screen.locator("#notes")).to_have_text(
            "calls back <img src=x onerror=alert(2)>"
        )
        await expect(screen.locator("#contacts li")).to_have_count(3)
        assert await name.inner_html() == "&lt;script&gt;alert(1)&lt;/script&gt;"
        assert await screen.locator("script").count() == 2  # ours only
        assert await screen.locator("#notes img").count() == 0
        await screen.screenshot(path=screenshot_path("tier2-screen-pop"))

        s.publish(Kind.CONNECTED, Phase.CONNECTED, "PJSIP/102")
        await expect(screen.locator("#call-state")).to_have_text("On call")
        await expect(screen.locator("#owner")).to_have_text("Boris <b>Orlov</b>")  # the card's
        await expect(wallboard.locator("#waiting")).to_have_text("0")
        await expect(wallboard.locator("#talking")).to_have_text("1")
        await wallboard.screenshot(path=screenshot_path("tier2-wallboard"))

        await screen.reload()  # now server-rendered, with the call on it
        await expect(name).to_have_text(HOSTILE)
        await expect(screen.locator("#call-state")).to_have_text("On call")
        assert await name.inner_html() == "&lt;script&gt;alert(1)&lt;/script&gt;"
        assert await screen.locator("script").count() == 2

        s.publish(Kind.ENDED, Phase.ENDED)
        await expect(screen.locator("#idle")).to_be_visible()
        await expect(screen.locator("#call")).to_be_hidden()
        await expect(wallboard.locator("#talking")).to_have_text("0")
        assert trouble == []
        await context.close()
