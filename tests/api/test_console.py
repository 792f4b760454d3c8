"""The operator console in a real headless Chromium, on a live fleet (SPEC S1, S8, S9).

Log in, see the fleet overview with data, open a meter page with its curve, issue a mass
ampere reservation, approve it as a second operator, see it executed. Screenshots go to
``test-artifacts/console/``. Needs Debian's ``chromium`` (``apt-get install chromium``);
Playwright never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
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


def _log_in(browser, live, who: str, locale: str = "en-GB"):
    """Log ``who`` in to the console of ``live`` (a LiveApi or a _Demo) in a new context."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
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


@dataclass
class _Demo:
    """``smame demo`` serving its console after the day: what it printed, where, logins.
    150 meters hang on more than one feeder, so the day has a feeder outage too."""

    url: str
    console_url: str
    logins: dict[str, tuple[str, str]]
    printed: str


@pytest.fixture(scope="module")
def demo() -> Iterator[_Demo]:
    process = subprocess.Popen(
        [sys.executable, "-m", "smame.cli", "demo", "--meters", "150", "--speed", "2880",
         "--port", "0", "--serve-for", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"})
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "operator-2" in line:
                break
        text = "".join(lines)
        console_url = re.search(r"Operator console: (\S+)", text)
        assert console_url, text
        # each operator's secret is in its own 0600 login file, never printed (S14)
        logins = {who: (cid, json.loads(Path(path).read_text())["client_secret"])
                  for who, cid, path in re.findall(
                      r"(operator-\d)\s+client id (\S+)\s+login file (\S+)", text)}
        yield _Demo(console_url[1].split("/console")[0], console_url[1], logins,
                    " ".join(text.split()))
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_console_pages_after_the_demo_day(demo: _Demo, browser, tmp_path) -> None:
    """The fleet, outage, meter and command pages show the demo day as the demo printed
    it (S1, S8, S9): screenshots in the test's directory."""
    from playwright.sync_api import expect

    context, page = _log_in(browser, demo, "operator-1")
    day = DAY.isoformat()
    page.goto(f"{demo.url}/console/fleet?date={day}")
    printed = re.search(r"([\d.]+)% on time, ([\d,]+) late", demo.printed)
    assert printed, demo.printed
    expect(page.get_by_test_id("on-time-rate")).to_contain_text(f"{printed[1]}%")
    expect(page.get_by_test_id("late")).to_contain_text(printed[2])
    expect(page.get_by_test_id("settled")).to_contain_text("48 / 48")
    # stacked bars: every slot of the day drawn, each up to the meters expected
    expect(page.locator("#collection-chart g.slot")).to_have_count(48)
    expect(page.locator("#collection-chart rect.bar.ok").first).to_be_attached()
    assert page.locator("#collection-chart rect.bar.open").count() == 0
    # the meters with 5-minute values come first, and say so
    first_meter = page.locator("#meters tbody tr").first
    expect(first_meter).to_contain_text(re.compile("real-time|historical"))
    page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)

    _check_outage_page(page, demo, day)
    page.screenshot(path=str(tmp_path / "outages.png"), full_page=True)

    page.goto(f"{demo.url}/console/fleet?date={day}")
    page.locator("#meters tbody tr a").first.click()
    expect(page.locator("#curve-5 path.line")).to_be_attached()
    assert int(page.locator("#curve-5 path.line").get_attribute("data-points")) > 200
    expect(page.locator("#voltage path.line")).to_be_attached()
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")
    page.click("#read-now")
    expect(page.locator("#meter-action")).to_have_text(
        re.compile(r"^[\d,]+ W, \d+(\.\d)? V, -?[\d,]+ var$"), timeout=60_000)
    page.screenshot(path=str(tmp_path / "meter.png"), full_page=True)

    page.goto(f"{demo.url}/console/commands")
    listed = page.locator("#commands tbody tr")
    expect(listed.filter(has_text="reserve_limit")).to_have_count(1)
    for kind in ("soft_switch", "clock_sync", "disconnect", "reconnect"):
        expect(listed.filter(has_text=kind).first).to_contain_text("head-end schedule")
    reservation = listed.filter(has_text="reserve_limit")
    expect(reservation.locator("td.sent")).to_have_text(re.compile(rf"^{day} 08:0\d:\d\d$"))
    assert not re.search(r"\b(AM|PM)\b", page.locator("#commands").inner_text())
    page.screenshot(path=str(tmp_path / "commands.png"), full_page=True)
    context.close()


_PRINTED_INCIDENT = re.compile(
    r"(momentary )?(premise|transformer|feeder) (\d+): (\d\d:\d\d)–(\d\d:\d\d|ongoing), "
    r"(\d+) customers, ([\d,]+) customer-minutes")
_PRINTED_INDICES = re.compile(r"SAIDI ([\d.]+) min, SAIFI ([\d.]+), CAIDI ([\d.]+) min, "
                              r"MAIFI ([\d.]+) over (\d+) customers")


def _check_outage_page(page, demo: _Demo, day: str) -> None:
    """The outage view shows the incidents and indices the demo printed (S8): the cards,
    one table row and one timeline bar per incident in the same order, and the feeders
    they reached with the transformer and feeder outages marked."""
    from playwright.sync_api import expect

    page.goto(f"{demo.url}/console/outages?date={day}")
    indices = _PRINTED_INDICES.search(demo.printed)
    assert indices, demo.printed
    for testid, printed in zip(("saidi", "saifi", "caidi", "maifi", "customers-served"),
                               indices.groups(), strict=True):
        expect(page.get_by_test_id(testid)).to_contain_text(printed)
    incidents = _PRINTED_INCIDENT.findall(demo.printed)
    assert {"transformer", "feeder"} <= {i[1] for i in incidents}, demo.printed
    rows = page.locator("#incidents tbody tr")
    expect(rows).to_have_count(len(incidents))
    for k, (_, level, element, start, end, customers, minutes) in enumerate(incidents):
        row = rows.nth(k)
        expect(row.locator("td.level")).to_have_attribute("data-level", level)
        expect(row.locator("td.where")).to_contain_text(f"{level} {element}")
        expect(row.locator("td.start")).to_have_text(start)
        expect(row.locator("td.end")).to_have_text("open" if end == "ongoing" else end)
        expect(row.locator("td.customers")).to_have_text(customers)
        # the API rounds to 0.1 and the page to 1, the demo straight to 1
        shown = float(row.locator("td.customer-minutes").inner_text().replace(",", ""))
        assert abs(shown - float(minutes.replace(",", ""))) <= 1, (shown, minutes)
        expect(row.locator("td.located")).not_to_be_empty()
    sustained = sum(1 for i in incidents if not i[0])
    expect(page.get_by_test_id("outage-count")).to_have_text(re.compile(rf"^{sustained}\D"))
    bars = page.locator("#outage-timeline rect.incident")
    expect(bars).to_have_count(len(incidents))
    for k, (_, level, element, *_rest) in enumerate(incidents):
        expect(bars.nth(k)).to_have_attribute("data-level", level)
        expect(bars.nth(k)).to_have_attribute("data-element", element)
    topology = page.get_by_test_id("outage-topology")
    transformer = next(i[2] for i in incidents if i[1] == "transformer")
    expect(topology.locator(f'.tx[data-transformer="{transformer}"]')).to_have_attribute(
        "data-level", "transformer")
    expect(topology.locator('.tx[data-level="feeder"]').first).to_be_attached()
    expect(topology.locator('.tx[data-level="supplied"]').first).to_be_attached()


def test_console_speaks_the_browsers_language_and_switches(demo: _Demo, browser,
                                                           tmp_path) -> None:
    from playwright.sync_api import expect

    context, page = _log_in(browser, demo, "operator-1", locale="ja-JP")
    page.goto(f"{demo.url}/console/fleet?date={DAY.isoformat()}")
    expect(page.locator("h1")).to_have_text("フリート概要")
    expect(page.locator("#nav")).to_contain_text("停電")
    expect(page.get_by_test_id("on-time-rate")).to_contain_text("定刻")
    page.screenshot(path=str(tmp_path / "fleet-ja.png"), full_page=True)
    page.goto(f"{demo.url}/console/outages?date={DAY.isoformat()}")
    expect(page.locator("h1")).to_contain_text("計器データから特定")
    expect(page.get_by_test_id("saidi")).to_contain_text("需要家あたり分")
    expect(page.locator("#incidents thead")).to_contain_text("需要家・分")
    expect(page.locator("#incidents td.level").first).to_have_text(
        re.compile("需要家|柱上変圧器|配電線"))
    page.screenshot(path=str(tmp_path / "outages-ja.png"), full_page=True)
    page.click("#lang-switch")
    expect(page.locator("h1")).to_contain_text("Outages")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    context.close()
