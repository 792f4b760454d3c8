"""The head-end collecting a fleet over real UDP pushes and TCP pulls (SPEC S1, S3, S8, S9)."""

import asyncio

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from smame.clock import AcceleratedClock, SimulatedClock
from smame.dlms import DEMO_KEYS, MeterEndpoint, PushScheduler, build_interval_push, push_frame
from smame.dlms.aio import PushSender, serve_meter
from smame.dlms.security import MeterSecurity, system_title_of
from smame.hes.commands import CommandKind, CommandStatus
from smame.hes.groups import FiveMinuteGroups
from smame.hes.headend import HeadEnd, HesConfig
from smame.hes.keystore import KeyStore, MasterKey
from smame.hes.registry import Registry
from smame.hes.session import Endpoint
from smame.hes.sinks import MemorySink
from smame.meter import Fleet, FleetConfig
from smame.readings import Source
from tests.conftest import jst


class Field:
    """A fleet served over TCP, pushing over UDP to the head-end; drops chosen pushes."""

    def __init__(self, meters: int, tmp_path, drop=lambda meter_id, end: False,
                 config: HesConfig | None = None, push_window: int = 0):
        self.config = config or HesConfig(session_timeout=5)
        self.push_window = push_window
        self.fleet = Fleet(FleetConfig(meters=meters, start=jst(2026, 7, 1), seed=5,
                                       transformer_outages_per_year=0.0,
                                       feeder_outages_per_year=0.0))
        self.drop = drop
        self.tmp_path = tmp_path
        self.clock = SimulatedClock(self.fleet.time)

    async def __aenter__(self):
        keystore = KeyStore(self.tmp_path / "keys.db", MasterKey(bytes(32)))
        keystore.put_many({int(m): DEMO_KEYS for m in self.fleet.meter_ids})
        self.endpoints, self.servers, self.schedulers = [], [], []
        self.sink = MemorySink()
        placeholder = []
        for row in range(self.fleet.n):
            endpoint = MeterEndpoint(self.fleet.meter(row), DEMO_KEYS,
                                     push_randomisation=self.push_window)
            server = await serve_meter(endpoint, "127.0.0.1", 0)
            self.servers.append(server)
            self.endpoints.append(endpoint)
            placeholder.append(Endpoint(int(self.fleet.meter_ids[row]), "127.0.0.1",
                                        server.sockets[0].getsockname()[1], cell=f"c{row % 3}"))
        registry = Registry(placeholder)
        self.headend = HeadEnd(registry, keystore, self.sink, self.clock,
                               self.config,
                               FiveMinuteGroups.select(registry.meter_ids(), 0.1, 0.1))
        self.udp = await self.headend.listen("127.0.0.1", 0)
        destination = f"127.0.0.1:{self.udp.get_extra_info('sockname')[1]}"
        for endpoint in self.endpoints:
            endpoint.push_destinations.update({bytes([0, 0, 25, 9, 0, 255]): destination,
                                               bytes([0, 0, 25, 9, 1, 255]): destination})
            self.schedulers.append(PushScheduler(endpoint))
        self.sender = await PushSender.open("127.0.0.1")
        return self

    async def __aexit__(self, *exc):
        self.sender.close()
        self.udp.close()
        for server in self.servers:
            server.close()

    async def advance(self, minutes: int) -> None:
        """Advance the fleet, send due pushes (minus dropped ones), let them arrive."""
        self.fleet.advance(minutes)
        self.clock.set(self.fleet.time + 5)
        sent = 0
        for scheduler in self.schedulers:
            meter_id = scheduler.endpoint.meter.meter_id
            for destination, apdu in scheduler.due():
                if not self.drop(meter_id, self.fleet.time):
                    self.sender.send(destination, apdu)
                    sent += 1
        target = self.headend.pushes + sent
        while self.headend.pushes < target and sent:
            await asyncio.sleep(0.001)  # UDP delivery on loopback is asynchronous


def thirty_minute(table: pa.Table) -> pa.Table:
    return table.filter(pc.equal(table.column("channel"), 140))


def test_a_full_day_is_collected_complete_without_duplicates(tmp_path):
    def drop(meter_id, end):  # meter 100000003 loses every seventh push
        return meter_id == 100000003 and (end // 1800) % 7 == 0

    async def scenario():
        async with Field(12, tmp_path, drop) as field:
            for _ in range(48):
                await field.advance(30)
                await field.headend.collect(field.fleet.time)
            field.headend.flush()
            return field

    field = asyncio.run(scenario())
    table = thirty_minute(field.sink.table())
    keys = list(zip(table.column("meter_id").to_pylist(),
                    table.column("interval_end").cast(pa.int64()).to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 12 * 48
    report = field.headend.collection_report()
    assert all(r["rate"] == 1.0 for r in report)
    assert sum(r["pull"] for r in report) == sum(1 for r in report if (r["end"] // 1800) % 7 == 0)
    # Pulled and pushed values are the meter's own.
    meter = field.fleet.meter(2)
    mine = table.filter(pc.equal(table.column("meter_id"), meter.meter_id))
    stored = meter.stored(30, field.fleet.time - 86400, field.fleet.time)
    assert mine.column("value").to_pylist() == stored.intervals("imp")[0].tolist()
    sources = set(mine.column("source").to_pylist())
    assert sources == {int(Source.PUSH), int(Source.PULL)}


def test_randomised_pushes_arrive_spread_over_the_window_and_need_no_pulls(tmp_path):
    async def scenario():
        config = HesConfig(session_timeout=5, push_grace_seconds=900)
        async with Field(12, tmp_path, config=config, push_window=600) as field:
            for _ in range(4 * 60 + 15):
                await field.advance(1)
                if (field.fleet.time - 900) % 1800 == 0:  # the grace after each interval
                    await field.headend.collect(field.fleet.time - 900)
            field.headend.flush()
            return field

    field = asyncio.run(scenario())
    report = field.headend.collection_report()
    assert len(report) == 8
    assert all(r["rate"] == 1.0 and r["pull"] == 0 for r in report)
    latencies = field.headend.push_latency
    assert max(latencies) <= 600 + 60 + 5  # the window, the minute step, the clock lead
    assert sorted(latencies)[len(latencies) // 2] > 120  # spread, not all at the boundary


def test_gap_fill_after_a_link_outage(tmp_path):
    async def scenario():
        async with Field(6, tmp_path, drop=lambda m, end: True) as field:
            for _ in range(16):  # 8 hours with no push arriving at all
                await field.advance(30)
            start = field.fleet.time - 8 * 3600
            pulled = await field.headend.fill_gaps(start, field.fleet.time)
            return field, pulled

    field, pulled = asyncio.run(scenario())
    assert pulled == 6 * 16
    table = thirty_minute(field.sink.table())
    assert table.num_rows == 6 * 16
    assert {r["missing"] for r in field.headend.collection_report()} == {0}


def test_last_gasp_and_restore_pushes_become_events(tmp_path):
    async def scenario():
        async with Field(8, tmp_path) as field:
            meter = field.fleet.meter(0)
            start = field.fleet.time + 600
            field.fleet.schedule_outage(start, start + 1200, transformers=(meter.transformer,))
            await field.advance(60)
            return field

    field = asyncio.run(scenario())
    kinds = [e.kind for e in field.headend.events]
    members = len(field.fleet.topology.meters_of_transformer(field.fleet.meter(0).transformer))
    assert kinds.count("outage") == members
    assert kinds.count("restore") == members
    outage = next(e for e in field.headend.events if e.kind == "outage")
    assert outage.meter_time == field.fleet.config.start.timestamp() + 601


def test_replayed_and_forged_pushes_are_refused(tmp_path):
    async def scenario():
        async with Field(3, tmp_path) as field:
            await field.advance(30)
            meter = field.fleet.meter(1)
            security = MeterSecurity(DEMO_KEYS, system_title_of(meter.meter_id))
            security.invocation_counter = 10**6
            frame = push_frame(build_interval_push(meter, security))
            field.headend.receive_push(frame)
            field.headend.receive_push(frame)  # replay
            forged = MeterSecurity(type(DEMO_KEYS)(bytes(16), bytes(16)),
                                   system_title_of(meter.meter_id))
            field.headend.receive_push(push_frame(build_interval_push(meter, forged)))
            field.headend.receive_push(b"\x00\x01garbage")
            field.headend.receive_push(b"")
            return field

    field = asyncio.run(scenario())
    kinds = [e.kind for e in field.headend.events]
    assert kinds.count("push_replayed") == 1
    assert kinds.count("push_rejected") == 1
    assert kinds.count("push_garbage") == 2


def test_five_minute_groups_instantaneous_reads_and_a_mass_command(tmp_path):
    async def scenario():
        async with Field(10, tmp_path) as field:
            headend = field.headend
            await field.advance(60)
            realtime = sorted(headend.groups.realtime)
            assert headend.groups.meets_standard()
            pulled = await headend.collect_five_minute(realtime, field.fleet.time - 1800,
                                                       field.fleet.time)
            values = await headend.read_instantaneous(realtime[0])
            command = headend.commands.submit(CommandKind.SET_LIMIT, headend.registry.meter_ids(),
                                              {"amps": 30})
            await headend.commands.wait(command.correlation_id)
            reserve = headend.commands.submit(CommandKind.RESERVE_LIMIT, realtime,
                                              {"at": field.fleet.time + 3600, "amps": 20})
            await headend.commands.wait(reserve.correlation_id)
            headend.flush()
            return field, pulled, values, command, reserve

    field, pulled, values, command, reserve = asyncio.run(scenario())
    assert pulled == 6 * len(field.headend.groups.realtime)
    assert command.status is CommandStatus.SUCCEEDED
    assert (field.fleet.limit_a == 30).all()
    assert reserve.status is CommandStatus.SUCCEEDED
    assert all(len(field.fleet.meter(field.fleet.index_of(m)).reservations()) == 1
               for m in field.headend.groups.realtime)
    table = field.sink.table()
    assert set(np.unique(table.column("channel").to_numpy())) >= {120, 220, 320, 420, 590, 490}
    assert values["voltage_v"] > 90


@pytest.mark.parametrize("garbage", [b"\x00\x01\x00\x01\x00\x01\x00\x03abc", bytes(300)])
def test_the_head_end_survives_a_meter_that_answers_garbage(tmp_path, garbage):
    async def scenario():
        async def bad_meter(reader, writer):
            await reader.read(100)
            writer.write(garbage)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(bad_meter, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        keystore = KeyStore(tmp_path / "k.db", MasterKey(bytes(32)))
        keystore.put(7, DEMO_KEYS)
        clock = AcceleratedClock(jst(2026, 7, 1), speed=1000)  # retry backoff: 1 ms
        headend = HeadEnd(Registry([Endpoint(7, "127.0.0.1", port)]), keystore, MemorySink(),
                          clock, HesConfig(session_timeout=1, retries=1))
        command = headend.commands.submit(CommandKind.DISCONNECT, [7])
        await headend.commands.wait(command.correlation_id)
        pulled = await headend.collect(1800)
        server.close()
        return headend, command, pulled

    headend, command, pulled = asyncio.run(scenario())
    assert command.status is CommandStatus.FAILED
    assert command.results[7].attempts == 2
    assert pulled == 0
    assert [e.kind for e in headend.events] == ["pull_failed"]


def test_a_mass_command_larger_than_the_throttle_completes(tmp_path):
    async def scenario():
        config = HesConfig(session_timeout=5, per_cell=1, total_sessions=2)
        async with Field(9, tmp_path, config=config) as field:
            headend = field.headend
            command = headend.commands.submit(CommandKind.DISCONNECT, headend.registry.meter_ids())
            await asyncio.wait_for(headend.commands.wait(command.correlation_id), 60)
            return field, command

    field, command = asyncio.run(scenario())
    assert command.status is CommandStatus.SUCCEEDED
    assert not field.fleet.connected.any()
