"""The head-end schedules for the network it has (issue 10, item 3), shown over the
per-packet model: pull rounds with back-off, settlement data first, per-concentrator
session limits, and 5-minute groups changed while it runs (S1, S3, S16)."""

import asyncio

import numpy as np

from smame.fan.config import load_config
from smame.fan.field import FieldDay, field_day
from smame.fan.national import build_area
from smame.fan.radio import medium_for
from smame.hes.commands import TransientError
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HesConfig
from smame.meter import Fleet, FleetConfig
from smame.readings import CHANNELS, Period, Quantity
from tests.conftest import jst

CONFIG = load_config()
MEDIUM = medium_for(CONFIG, "multihop")


def fleet_of(meters: int, hour: int = 0) -> Fleet:
    return Fleet(FleetConfig(meters=meters, start=jst(2026, 7, 1, hour), seed=5,
                             transformer_outages_per_year=0.0, feeder_outages_per_year=0.0))


def mesh_day(fleet: Fleet, work, config: HesConfig, groups: FiveMinuteGroups,
             per: float | None = None, seed: int = 3, concentrator=None) -> FieldDay:
    rng = np.random.default_rng(seed)
    hops = build_area(CONFIG, "multihop", fleet.n, rng).hops
    return field_day(fleet, work, MEDIUM, hops, CONFIG.multihop.link_per if per is None else per,
                     rng, config=config, groups=groups, concentrator=concentrator)


def codes(quantity: Quantity, period: Period) -> list[int]:
    return [c for c, info in CHANNELS.items() if (info.quantity, info.period) == (quantity, period)]


def first_handed(day: FieldDay, channels: list[int]) -> dict[tuple[int, int], float]:
    """(meter, interval end) -> when the head-end first handed that value to its sink."""
    first: dict[tuple[int, int], float] = {}
    for batch, at in zip(day.sink.batches, day.sink.handed_at, strict=True):
        keep = np.isin(batch.column("channel").to_numpy(), channels)
        meters = batch.column("meter_id").to_numpy()[keep]
        ends = batch.column("interval_end").cast("int64").to_numpy()[keep]
        for key in zip(meters.tolist(), ends.tolist(), strict=True):
            first.setdefault(key, at)
    return first


def test_pull_rounds_with_back_off_bring_lossy_meters_in_within_the_hour(tmp_path):
    hours = 4

    def collect(rounds: int, work) -> tuple[int, list[float]]:
        fleet = fleet_of(24)
        day = mesh_day(fleet, work, HesConfig(session_timeout=3600.0, pull_rounds=rounds,
                                              pull_backoff_seconds=600.0),
                       FiveMinuteGroups(fleet.n, set(), set()), per=0.65, seed=9)
        start = day.clock.time()
        asyncio.run(day.run(start + hours * 3600 + 1800, since=start))
        report = [r for r in day.headend.collection_report(30) if r["end"] <= start + hours * 3600]
        return sum(r["missing"] for r in report), day.headend.pull_latency

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    missing_once, _ = collect(1, tmp_path / "a")
    missing_retried, latency = collect(3, tmp_path / "b")
    assert missing_once >= 5  # PER 0.65 on every link: one pull is often not enough
    assert missing_retried < missing_once
    # the third round pulls at 120 + 2 × 600 s: still within S1's hour
    assert max(latency) > 1200
    assert max(latency) < 3600


def test_settlement_pulls_take_freed_places_before_a_queued_real_time_group(tmp_path):
    """One session at a time overall: the real-time group (behind concentrator 1) queues
    first, its read falling due 2 s earlier, yet the 30-minute pulls (behind
    concentrator 0, whose pushes were all lost) go ahead of it once they are due."""
    fleet = fleet_of(12)
    behind = np.arange(fleet.n) % 2
    realtime_ids = {int(m) for m in fleet.meter_ids[behind == 1]}
    groups = FiveMinuteGroups(fleet.n, realtime_ids, set())
    day = mesh_day(fleet, tmp_path, HesConfig(session_timeout=3600.0, total_sessions=1,
                                              push_grace_seconds=120.0,
                                              realtime_delay_seconds=118.0), groups,
                   concentrator=behind)
    start = int(day.clock.time())
    boundary = start + 1800
    pulled_area, group_area = day.areas
    pulled_area.down = [(boundary, boundary + 100)]  # every push of the interval is lost
    asyncio.run(day.run(boundary + 900, since=start))
    window = (boundary + 118, boundary + 300)
    pulls = [t for t, _ in pulled_area.session_log if window[0] <= t < window[1]]
    reads = [t for t, _ in group_area.session_log if window[0] <= t < window[1]]
    assert len(pulls) == 6
    assert all(day.headend.delivered[(30, boundary)][m] == "pull"
               for m in fleet.meter_ids[behind == 0].tolist())
    # the reads begun before the pulls fell due (at +120 s) ran; every read still
    # waiting then went after all six pulls
    assert len(reads) == 6
    waited = [t for t in reads if t >= boundary + 120]
    assert len(waited) >= 2
    assert min(waited) > max(pulls)


def test_each_concentrator_carries_at_most_its_session_limit(tmp_path):
    fleet = fleet_of(20)
    groups = FiveMinuteGroups(fleet.n, set(), set())
    day = mesh_day(fleet, tmp_path, HesConfig(session_timeout=3600.0, per_cell=8,
                                              cell_sessions=(("concentrator-", 2),)),
                   groups, concentrator=np.arange(fleet.n) % 2)
    start = int(day.clock.time())
    boundary = start + 1800
    for area in day.areas:
        area.down = [(boundary, boundary + 100)]  # all 20 meters must be pulled
    asyncio.run(day.run(boundary + 1200, since=start))
    assert set(day.headend.delivered[(30, boundary)]) == {int(m) for m in fleet.meter_ids}
    assert [area.sessions_peak for area in day.areas] == [2, 2]  # 10 pulls each, 2 at once
    assert [area.sessions_open for area in day.areas] == [0, 0]


def test_groups_changed_while_it_runs_and_the_schedule_follows(tmp_path):
    """S3/S16: a real-time meter moves to the historical group and a plain one to the
    real-time group at 23:00 JST; the reads follow from the next 5-minute boundary."""
    fleet = fleet_of(6, hour=22)
    ids = [int(m) for m in fleet.meter_ids]
    moved_out, moved_in = ids[0], ids[1]
    groups = FiveMinuteGroups(fleet.n, {moved_out}, set())
    day = mesh_day(fleet, tmp_path, HesConfig(session_timeout=3600.0), groups)
    start = int(day.clock.time())
    change, midnight = start + 3600, start + 7200

    async def scenario():
        await day.run(change, since=start)
        groups.move([moved_out], "historical")
        groups.move([moved_in], "realtime")
        await day.run(midnight + 900)

    asyncio.run(scenario())
    five = first_handed(day, codes(Quantity.ACTIVE_IMPORT, Period.MIN5))
    ends = range(start + 300, midnight + 1, 300)
    # the meter moved out: every value of the two hours, those after the change only by
    # the historical read after midnight (the real-time reads stopped for it)
    assert all((moved_out, e) in five for e in ends)
    assert all(five[(moved_out, e)] - e < 600 for e in ends if e <= change - 300)
    assert all(five[(moved_out, e)] >= midnight for e in ends if e > change)
    # the meter moved in: from the change on, every 5 minutes within 10 minutes (S3)
    joined = sorted(e for m, e in five if m == moved_in)
    assert joined[0] == change
    assert all(five[(moved_in, e)] - e < 600 for e in ends if e >= change)
    # a meter in neither group is not read at 5 minutes at all
    assert not any(m == ids[2] for m, _ in five)


def test_a_session_times_out_on_the_simulated_clock_not_the_wall(tmp_path):
    """A meter with no route never answers; the model is told never to give up, so only
    the head-end's own session timeout (45 simulated s) ends the wait."""
    fleet = fleet_of(4)
    day = mesh_day(fleet, tmp_path, HesConfig(session_timeout=45.0),
                   FiveMinuteGroups(fleet.n, set(), set()))
    day.headend.transport.answer_timeout_s = 10 * 86400
    silent = int(fleet.meter_ids[0])
    start = day.clock.time()
    day.area.off[silent] = (start, start + 86400)

    async def read() -> str:
        try:
            await day.settle(day.headend.read_instantaneous(silent))
        except TransientError as exc:
            return str(exc)
        return "answered"

    assert asyncio.run(read()) == "no answer within 45.0 s"
    # the wait ended 45 simulated s in; on the loop's wall time the clock would have run
    # on by a minute per settle step for as long as the wall wait lasted
    assert 45 <= day.clock.time() - start < 45 + 60
