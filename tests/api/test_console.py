"""The operator console in a real headless Chromium, on a live fleet (SPEC S1, S8, S9).

Log in, see the fleet overview with data, open a meter page with its curve, issue a mass
ampere reservation, approve it as a second operator, see it executed. Screenshots go to
``test-artifacts/console/``. Needs Debian's ``chromium`` (``apt-get install chromium``);
Playwright never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from smame.api import ApiConfig
from smame.api.live import LiveApi, run_live
from tests.api.support import JST

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DAY = date(2026, 7, 1)
SPEED = 600.0  # simulated seconds per second
METERS = 30
THRESHOLD = 20  # a command to more meters needs a second operator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(apt-get install -y chromium); Playwright must not download one"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveApi]:
    """A live fleet, head-end, MDMS and API in a thread of its own, warmed up to 01:05."""
    data = tmp_path_factory.mktemp("live")
    config = ApiConfig(data, mass_command_meters=THRESHOLD, refresh_interval_s=0.5)
    started = threading.Event()
    holder: dict = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def ready(live_api: LiveApi) -> None:
        holder["live"] = live_api
        started.set()

    warm = datetime(2026, 7, 1, 1, 5, tzinfo=JST).timestamp()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(run_live(config, METERS, SPEED, "127.0.0.1", 0, seed=5,
                                             day=DAY, ready=ready, stop=stop,
                                             warm_until=warm))
        except BaseException as exc:
            holder["error"] = exc
            started.set()

    thread = threading.Thread(target=run, name="live-system", daemon=True)
    thread.start()
    assert started.wait(120), "the live system did not start"
    if "error" in holder:
        raise holder["error"]
    yield holder["live"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)
    loop.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    # The live fleet shares this process (and its GIL): on a busy machine a page can take
    # longer than Playwright's default 5 s to show what it will show.
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                              headless=True)
        yield instance
        instance.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _log_in(browser, live: LiveApi, who: str):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live.console_url)
    expect(page).to_have_url(f"{live.url}/console/login")
    client_id, secret = live.logins[who]
    page.fill("#client_id", client_id)
    page.fill("#client_secret", secret)
    page.click("#login-submit")
    expect(page.locator("#who")).to_contain_text(who)
    return context, page


def test_console_from_login_to_an_approved_mass_reservation(live: LiveApi, browser) -> None:
    from playwright.sync_api import expect

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    first, page = _log_in(browser, live, "operator-1")
    # fleet overview, with the slots collected so far
    expect(page.get_by_test_id("collection-rate")).to_contain_text("%")
    expect(page.locator("#slots tbody tr").first).to_be_visible()
    expect(page.locator("#collection-chart rect.bar.ok").first).to_be_attached()
    assert page.locator("#meters tbody tr", has_text="electric").count() == METERS
    _shot(page, "01-fleet-overview")

    # a meter page with its 30-minute curve
    page.locator("#meters tbody tr a").first.click()
    expect(page).to_have_url(re.compile(r"/console/meter\?id=\d+"))
    expect(page.locator("#curve-30 rect.bar").first).to_be_attached()
    expect(page.get_by_test_id("breaker")).to_contain_text("closed")
    _shot(page, "02-meter-page")

    # a mass ampere reservation: more meters than the threshold
    page.click("text=Commands")
    page.select_option("#kind", "reserve_limit")
    page.fill("#targets", "all")
    page.fill("#amps", "20")
    # four simulated hours (24 s here): time for both operators to act before it is due
    at = datetime.fromtimestamp(live.system.clock.time() + 4 * 3600, JST)
    page.fill("#at", at.strftime("%Y-%m-%dT%H:%M"))
    page.click("#send-command")
    result = page.get_by_test_id("command-result")
    expect(result).to_contain_text("pending_approval")
    correlation_id = result.get_attribute("data-correlation-id")
    row = page.locator(f'#commands tr[data-command="{correlation_id}"]')
    expect(row.locator("td.status")).to_have_text("pending_approval")
    # the submitter cannot approve it
    row.locator("button.approve").click()
    expect(result).to_contain_text("second operator")
    _shot(page, "03-mass-reservation-pending")

    # a second operator approves it, and the head-end carries it out
    second, other = _log_in(browser, live, "operator-2")
    other.goto(f"{live.url}/console/commands")
    pending = other.locator(f'#commands tr[data-command="{correlation_id}"]')
    expect(pending.locator("td.status")).to_have_text("pending_approval")
    _shot(other, "04-second-operator-sees-it")
    pending.locator("button.approve").click()
    expect(pending.locator("td.status")).to_have_text("succeeded", timeout=60_000)
    expect(pending.locator("td.confirmed")).to_have_text(str(METERS))
    _shot(other, "05-approved-and-executed")

    # the first operator sees it executed, and the meters' reservation is listed
    expect(row.locator("td.status")).to_have_text("succeeded", timeout=30_000)
    meter = live.system.fleet.meter_ids[0]
    page.goto(f"{live.url}/console/meter?id={meter}&date={DAY.isoformat()}")
    expect(page.locator("#reservations td.state").first).to_have_text("pending")
    _shot(page, "06-meter-reservation-pending")
    # at the reserved time the meters change their limit: the meter's own log says so
    expect(page.locator("#reservations td.state").first).to_have_text("executed",
                                                                      timeout=120_000)
    expect(page.locator("#events")).to_contain_text("reservation_executed", timeout=30_000)
    _shot(page, "07-meter-reservation-executed")
    first.close()
    second.close()
