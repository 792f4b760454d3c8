"""A fleet of next-generation meters held as numpy arrays and advanced minute by minute.

The fleet is the meters' state: registers, breaker, switch, supply, settings. ``advance``
simulates whole windows (at most 30 minutes, never across a day or a due reservation)
for chunks of meters at a time, time-major ``[minute, meter]``, and emits reading batches
at interval boundaries. :meth:`Fleet.meter` gives one meter as an object that reads and
commands these arrays, for the protocol servers.

Energy is integrated in mWh per meter (int64). A meter's register is that total divided
by its unit, modulo 10^8; every interval value is a difference of register readings, so
intervals sum exactly to register differences (SPEC M1).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from smame.clock import from_epoch, to_epoch
from smame.contract import check_limit, check_transmit_interval
from smame.meter import profiles
from smame.meter.config import FleetConfig
from smame.meter.emitter import BatchEmitter
from smame.meter.events import EventKind, EventLog, MeterEvent
from smame.meter.integrate import accumulate, running_totals, segment_sums
from smame.meter.joint import JointMeters, joint_day_shape
from smame.meter.storage import IntervalStore
from smame.meter.topology import Topology, build_topology
from smame.readings import Period, Quality, Quantity, channel_code
from smame.registers import REGISTER_MODULUS, check_register

__all__ = ["BREAKER_CLOSED", "BREAKER_LOCKED", "Fleet", "Reservation"]

BREAKER_CLOSED, BREAKER_LOCKED = 0, 2
CHUNK_METERS = 16384
_MWH_PER_W_MINUTE = np.float32(1000.0 / 60.0)
_PAD = 128  # minutes of wrap-around padding on each side of a day's shape table


def clock_drift_s(drift_ppm: npt.NDArray[np.float32], seconds) -> npt.NDArray[np.float64]:
    """Seconds a clock running ``drift_ppm`` parts per million fast gains in ``seconds``."""
    return drift_ppm.astype(np.float64) * 1e-6 * seconds


@dataclass(frozen=True)
class Reservation:
    """A scheduled ampere-limit change (SPEC M7)."""

    id: int
    meter_id: int
    time: int  # POSIX seconds
    amps: int


@dataclass
class _Day:
    """What the profiles give for one JST day."""

    day: date
    start_minute: int
    power: npt.NDArray[np.float32]  # (archetypes, _PAD + 1440 + _PAD)
    rate: npt.NDArray[np.float32]
    pv_beam: npt.NDArray[np.float32]  # (orientations, 1440) kW/kWp parts, by local minute
    pv_diffuse: npt.NDArray[np.float32]
    clearness: npt.NDArray[np.float32]  # (areas,) the day's sky clearness
    ev_start: npt.NDArray[np.int32]  # per EV meter, local minutes from this day's 00:00
    ev_end: npt.NDArray[np.int32]
    joint_rate: npt.NDArray[np.float32]  # (2, 1440) share of daily gas/water use per minute


class Fleet:
    """N meters, their topology, profiles and state. Deterministic by ``config.seed``."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        n = config.meters
        self.n = n
        self._seed = (config.seed, config.shard)  # per-shard draws; weather uses seed alone
        rng = np.random.default_rng([*self._seed, 1])
        self.minute = int(to_epoch(config.start)) // 60
        self.topology: Topology = build_topology(
            n, rng, transformers_per_feeder=config.transformers_per_feeder)
        self.traits = profiles.draw_households(n, rng, config.pv_share, config.ev_share)
        self.meter_ids = np.arange(config.first_meter_id, config.first_meter_id + n, dtype=np.int64)

        # Settings and switchable state.
        self.limit_a = self.traits.contract_amps.copy()
        self.breaker = np.zeros(n, np.int8)
        self.trip_times = np.full((n, config.breaker.lockout_trips), -(2**62), np.int64)
        self.connected = np.ones(n, np.bool_)
        self.supplied = np.ones(n, np.bool_)
        self.last_gasp_enabled = np.full(n, config.last_gasp.enabled, np.bool_)
        self.restored_at = np.full(n, -(2**62), np.int64)  # POSIX s when supply returned
        self.soft_switch = np.full(n, 30, np.int8)
        clock = config.clock
        self.clock_error_s = rng.uniform(-clock.step_threshold_s, clock.step_threshold_s, n)
        """Each meter's clock minus true time, seconds (float64: drift accrues in µs)."""
        self.clock_drift_ppm = np.clip(rng.normal(0.0, clock.drift_ppm_sigma, n),
                                       -4 * clock.drift_ppm_sigma, 4 * clock.drift_ppm_sigma
                                       ).astype(np.float32)
        self._clock_sync_minute = rng.integers(0, max(1, clock.sync_every_minutes), n
                                               ).astype(np.int32)
        self.unit_exponent = np.full(n, config.unit_exponent, np.int8)
        self.five_minute = rng.random(n) < config.output.five_minute_share
        self.unit_mwh = (10 ** (self.unit_exponent.astype(np.int64) + 6)).astype(np.int64)
        """Size of each meter's register unit in mWh (fixed at manufacture)."""

        # Energy integrators (mWh / mvarh). Registers start anywhere in their range, so
        # a fleet always holds meters about to wrap, reverse and reactive ones included
        # (a meter exchanged onto a PV home carries a used register). Homes without PV
        # never exported: their reverse register stays 0.
        unit_mwh = self.unit_mwh
        self.import_mwh = rng.integers(0, REGISTER_MODULUS, n, dtype=np.int64) * unit_mwh
        self.export_mwh = np.where(self.traits.pv_kw > 0,
                                   rng.integers(0, REGISTER_MODULUS, n, dtype=np.int64), 0
                                   ) * unit_mwh
        self.reactive_mvarh = rng.integers(0, REGISTER_MODULUS, n, dtype=np.int64) * unit_mwh
        self._tan_phi = np.tan(np.arccos(self.traits.power_factor)).astype(np.float32)
        self._leg_split = rng.uniform(0.35, 0.65, n).astype(np.float32)
        # Power at which the more loaded leg carries 1 A: a single-phase three-wire home
        # puts share s of its load on leg 1 at 100 V; a 200 V three-phase shop √3·200 V.
        heavier_leg = np.maximum(self._leg_split, 1 - self._leg_split)
        self._watts_per_leg_amp = np.where(self.traits.three_phase, np.float32(346.4),
                                           np.float32(100.0) / heavier_leg).astype(np.float32)
        self._tap_v = profiles.draw_transformer_taps(self.topology.n_transformers, rng)
        self._carry_w = np.zeros(n, np.float32)
        self._carry_until = np.zeros(n, np.int64)

        # Boundary snapshots of registers (in units) and accumulators per period.
        self._prev_units = {
            (q, p): self._units(q) for q in ("imp", "exp") for p in (1, 5, 15, 30)
        }
        self._prev_units[("rea", 5)] = self._units("rea")
        self._pending_flags = {
            p: np.full(n, Quality.PARTIAL if self.minute % p else 0, np.uint16)
            for p in (1, 5, 15, 30)
        }
        self._v_sum = np.zeros(n, np.float64)
        self._v_minutes = np.zeros(n, np.int32)

        # Instantaneous values of the last simulated minute (SPEC M5).
        self.power_w = np.zeros(n, np.float32)
        self.reactive_var = np.zeros(n, np.float32)
        self.voltage_v = np.zeros(n, np.float32)
        self.current_a = np.zeros((n, 2), np.float32)

        self.events = EventLog()
        self._reservations: dict[int, Reservation] = {}
        self._reservation_heap: list[tuple[int, int]] = []
        self._reservation_ids = itertools.count(1)
        self._outages: list[profiles.Outage] = []
        self._outage_days: set[date] = set()
        self._day: _Day | None = None
        self._ev_rows = np.flatnonzero(self.traits.ev_kw > 0)
        self._pv_rows = np.flatnonzero(self.traits.pv_kw > 0)
        pv_area = self.topology.transformer_area[self.topology.meter_transformer[self._pv_rows]]
        self._pv_column = (self.traits.pv_orientation[self._pv_rows].astype(np.intp)
                           * max(1, self.topology.n_areas) + pv_area)
        """Column of each PV meter in a window's output table: (orientation, weather area)."""
        self._pv_rated_w = self.traits.pv_kw[self._pv_rows] * np.float32(1000.0)
        pv_tx = self.topology.meter_transformer[self._pv_rows]
        self._pv_volts_per_w = profiles.volt_rise_per_watt(
            self.topology.transformer_capacity_w[pv_tx], self.traits.three_phase[self._pv_rows])
        # Highest voltage each inverter could see with no load anywhere: tap, plus per kW/kWp
        # of output the rise from all PV of its transformer and its own service drop.
        tx_pv_w = np.bincount(pv_tx, weights=self._pv_rated_w,
                              minlength=self.topology.n_transformers)[pv_tx]
        rise_per_kw_per_kwp = (
            profiles.transformer_voltage(np.float32(0.0), -tx_pv_w.astype(np.float32),
                                         self.topology.transformer_capacity_w[pv_tx])
            - profiles.service_drop(-self._pv_rated_w, self.traits.three_phase[self._pv_rows]))
        self._pv_bound_v = (self._tap_v[pv_tx], rise_per_kw_per_kwp.astype(np.float32))
        self._prev_ev = (np.zeros(len(self._ev_rows), np.int32),) * 2
        self._chunks = self._chunk_bounds()
        self._channels = self._channel_tables()
        self._joint = JointMeters(self, np.random.default_rng([*self._seed, 2]))

        retention = config.retention
        self.storage: dict[int, IntervalStore] = {}
        if retention is not None:
            names = {1: ("imp", "exp"), 5: ("imp", "exp", "rea", "volt"), 15: ("imp", "exp"),
                     30: ("imp", "exp")}
            for period, stored in names.items():
                minutes = retention.minutes(period)
                if minutes:
                    self.storage[period] = IntervalStore(n, period, minutes, stored, period > 1)
        self._store_start_readings()

    def _store_start_readings(self) -> None:
        """A fleet starting on a boundary holds that boundary's readings, as a running meter
        would: the first interval can then be derived, read and pushed like any other."""
        registers = self.registers()
        for period, store in self.storage.items():
            if self.minute % period:
                continue
            values = {"imp": registers["imp"], "exp": registers["exp"], "rea": registers["rea"],
                      "volt": np.zeros(self.n, np.int64)}  # no average before the start
            flags = Quality.MISSING if "volt" in store.names else 0
            store.record(self.minute, {name: values[name] for name in store.names}, flags)

    # ------------------------------------------------------------------ properties


    @property
    def time(self) -> int:
        """The fleet's time, POSIX seconds (UTC), at the end of the last simulated minute."""
        return self.minute * 60

    def _units(self, quantity: str, rows: slice | npt.NDArray[np.intp] = slice(None)):
        total = {"imp": self.import_mwh, "exp": self.export_mwh, "rea": self.reactive_mvarh}
        return total[quantity][rows] // self.unit_mwh[rows]

    def registers(self, rows: slice | npt.NDArray[np.intp] = slice(None)) -> dict[str, np.ndarray]:
        """8-digit registers now: forward, reverse active and reactive, in register units."""
        return {q: self._units(q, rows) % REGISTER_MODULUS for q in ("imp", "exp", "rea")}

    def index_of(self, meter_id: int) -> int:
        """Row of a meter id; raises KeyError for an id not in the fleet."""
        index = int(meter_id) - self.config.first_meter_id
        if not 0 <= index < self.n:
            raise KeyError(f"no meter {meter_id} in this fleet")
        return index

    def state_nbytes(self) -> int:
        """Bytes held by the meters' state: every per-meter array, not the on-meter history."""
        arrays: list[np.ndarray] = []
        for holder in (self, self.traits, self.topology, self._joint):
            arrays += [v for v in vars(holder).values() if isinstance(v, np.ndarray)]
        for mapping in (self._prev_units, self._pending_flags, self._channels):
            arrays += list(mapping.values())
        return sum(a.nbytes for a in arrays)

    def joint_meters(self) -> pa.Table:
        """The gas and water meters attached to this fleet's meters (SPEC M9)."""
        return self._joint.table()

    def meter(self, index: int):
        """Meter ``index`` (0-based row) as an object backed by the fleet's arrays."""
        from smame.meter.meter import Meter

        if not 0 <= index < self.n:
            raise IndexError(f"meter index {index} outside 0..{self.n - 1}")
        return Meter(self, index)

    # ------------------------------------------------------------------ commands

    def _event(self, row: int, time: int, kind: EventKind, value: int = 0, ref: int = 0) -> None:
        self.events.add(MeterEvent(int(self.meter_ids[row]), int(time), kind, int(value), ref))

    def set_limit(self, row: int, amps: int) -> None:
        """Change the breaker's contract limit now (SPEC M7)."""
        self.limit_a[row] = check_limit(amps)
        self._event(row, self.time, EventKind.LIMIT_CHANGED, amps)

    def reserve_limit(self, row: int, at: int, amps: int) -> Reservation:
        """Schedule a limit change at POSIX second ``at``, which must be in the future."""
        check_limit(amps)
        if at <= self.time:
            raise ValueError(f"reservation time {from_epoch(at).isoformat()} is not in the future")
        reservation = Reservation(next(self._reservation_ids), int(self.meter_ids[row]), int(at),
                                  int(amps))
        self._reservations[reservation.id] = reservation
        heapq.heappush(self._reservation_heap, (reservation.time, reservation.id))
        self._event(row, self.time, EventKind.RESERVATION_SET, amps, reservation.id)
        return reservation

    def reservations(self, row: int | None = None) -> list[Reservation]:
        """Pending reservations, of one meter or of all, in time order."""
        pending = sorted(self._reservations.values(), key=lambda r: (r.time, r.id))
        if row is None:
            return pending
        meter_id = int(self.meter_ids[row])
        return [r for r in pending if r.meter_id == meter_id]

    def cancel_reservation(self, reservation_id: int) -> Reservation:
        """Cancel a pending reservation; unknown or executed ids raise KeyError."""
        reservation = self._reservations.pop(int(reservation_id), None)
        if reservation is None:
            raise KeyError(f"no pending reservation {reservation_id}")
        row = self.index_of(reservation.meter_id)
        self._event(row, self.time, EventKind.RESERVATION_CANCELLED, reservation.amps,
                    reservation.id)
        return reservation

    def disconnect(self, row: int) -> None:
        """Open the meter's switch remotely (SPEC M8)."""
        if self.connected[row]:
            self.connected[row] = False
            self._event(row, self.time, EventKind.DISCONNECTED)

    def reconnect(self, row: int) -> None:
        """Close the meter's switch remotely (SPEC M8)."""
        if not self.connected[row]:
            self.connected[row] = True
            self._event(row, self.time, EventKind.RECONNECTED)

    def reset_breaker(self, row: int) -> None:
        """Clear a breaker lockout remotely (SPEC M7)."""
        if self.breaker[row] == BREAKER_LOCKED:
            self.breaker[row] = BREAKER_CLOSED
            self.trip_times[row] = -(2**62)
            self._event(row, self.time, EventKind.BREAKER_RESET)

    def set_soft_switch(self, row: int, minutes: int) -> None:
        """Choose the transmitted interval: 30 or 15 minutes (SPEC M4, S10)."""
        minutes = check_transmit_interval(minutes)
        if self.soft_switch[row] != minutes:
            self.soft_switch[row] = minutes
            self._event(row, self.time, EventKind.SOFT_SWITCH_CHANGED, minutes)

    def set_last_gasp(self, row: int, enabled: bool) -> None:
        """Switch the Last Gasp function on or off (SPEC M6)."""
        if bool(self.last_gasp_enabled[row]) != bool(enabled):
            self.last_gasp_enabled[row] = bool(enabled)
            self._event(row, self.time, EventKind.LAST_GASP_SETTING_CHANGED, int(enabled))

    @property
    def clock_offset_s(self) -> npt.NDArray[np.int32]:
        """Each meter's clock error in whole seconds, as its clock shows it."""
        return np.rint(self.clock_error_s).astype(np.int32)

    def set_clock(self, row: int, offset_s: int = 0) -> None:
        """Set the meter's clock error to ``offset_s`` seconds (0 after a clock sync).

        The intervals in progress carry CLOCK_ADJUSTED, as a real meter flags them.
        """
        if not -(2**31) <= offset_s < 2**31:
            raise ValueError(f"clock error of {offset_s} s is beyond what the meter can hold")
        old = round(float(self.clock_error_s[row]))
        self.clock_error_s[row] = offset_s
        for pending in self._pending_flags.values():
            pending[row] |= np.uint16(Quality.CLOCK_ADJUSTED)
        self._event(row, self.time, EventKind.CLOCK_SET, offset_s - old)

    def _clock_window(self, m0: int, width: int) -> dict[int, npt.NDArray[np.intp]]:
        """Drift every clock over the window and step those due for sync (docs/meter.md, clock).

        Returns the rows stepped, by the window column of their sync minute.
        """
        cfg = self.config.clock
        stepped: dict[int, npt.NDArray[np.intp]] = {}
        every = cfg.sync_every_minutes
        if every:
            phase = (self._clock_sync_minute - m0) % every
            due = np.flatnonzero(phase < width)
            if due.size:
                error = self.clock_error_s[due] + clock_drift_s(self.clock_drift_ppm[due],
                                                                phase[due] * 60)
                step = due[np.abs(error) >= cfg.step_threshold_s]
                cols = phase[step]
                for row, col, err in zip(step, cols, error[np.abs(error) >= cfg.step_threshold_s],
                                         strict=True):
                    self._event(int(row), (m0 + int(col)) * 60, EventKind.CLOCK_SET,
                                -round(float(err)))
                # After the step the clock drifts again from 0 for the rest of the window.
                self.clock_error_s[step] = -clock_drift_s(self.clock_drift_ppm[step],
                                                          cols * 60)
                for col in np.unique(cols):
                    stepped[int(col)] = step[cols == col]
        self.clock_error_s += clock_drift_s(self.clock_drift_ppm, width * 60)
        return stepped

    def preset_registers(self, row: int, imp: int | None = None, exp: int | None = None) -> None:
        """Set a meter's registers, as at installation or meter exchange (register units)."""
        totals = (("imp", imp, self.import_mwh), ("exp", exp, self.export_mwh))
        for quantity, value, total in totals:
            if value is None:
                continue
            check_register(value)
            total[row] = int(value) * int(self.unit_mwh[row])
            for period in (1, 5, 15, 30):
                self._prev_units[(quantity, period)][row] = int(value)

    def schedule_outage(
        self,
        start: int,
        end: int,
        transformers: tuple[int, ...] = (),
        feeders: tuple[int, ...] = (),
        cause: str = "scheduled",
    ) -> profiles.Outage:
        """Cut supply to some transformers and/or feeders over POSIX seconds [start, end)."""
        if end <= start:
            raise ValueError("an outage ends after it starts")
        txs = set(transformers)
        for feeder in feeders:
            txs.update(self.topology.transformers_of_feeder(feeder))
        if not txs:
            raise ValueError("an outage needs at least one transformer or feeder")
        outage = profiles.Outage(start // 60, -(-end // 60), tuple(sorted(txs)), cause)
        self._outages.append(outage)
        return outage

    # ------------------------------------------------------------------ simulation

    def advance(self, minutes: int, sink: Callable[[pa.Table], None] | None = None) -> list:
        """Simulate ``minutes`` minutes; reading batches go to ``sink`` or are returned."""
        if minutes < 0:
            raise ValueError("cannot advance by a negative time")
        collected: list[pa.Table] = []
        emit = sink or collected.append
        end = self.minute + minutes
        while self.minute < end:
            self._execute_due_reservations()
            window_end = min(end, (self.minute // 30 + 1) * 30, self.next_day_start())
            if self._reservation_heap:
                window_end = min(window_end, max(self.minute + 1, -(-self._reservation_heap[0][0]
                                                                   // 60)))
            batch = self._run_window(window_end - self.minute)
            if batch is not None and batch.num_rows:
                emit(batch)
        self._execute_due_reservations()
        return collected

    def run_until(self, posix_seconds: float, sink: Callable[[pa.Table], None] | None = None):
        """Advance to the last whole minute at or before ``posix_seconds``."""
        target = int(posix_seconds) // 60
        return self.advance(max(0, target - self.minute), sink)

    def next_day_start(self) -> int:
        """Epoch minute of the next 00:00 JST."""
        return profiles.day_start_minute(profiles.local_day(self.minute)) + 1440

    def _execute_due_reservations(self) -> None:
        while self._reservation_heap and self._reservation_heap[0][0] <= self.time:
            _, rid = heapq.heappop(self._reservation_heap)
            reservation = self._reservations.pop(rid, None)
            if reservation is None:
                continue  # cancelled
            row = self.index_of(reservation.meter_id)
            self.limit_a[row] = reservation.amps
            self._event(row, reservation.time, EventKind.RESERVATION_EXECUTED, reservation.amps,
                        reservation.id)

    def _chunk_bounds(self) -> list[tuple[int, int]]:
        first = self.topology.transformer_first_meter
        bounds, start = [], 0
        while start < self.n:
            wanted = min(self.n, start + CHUNK_METERS)
            stop = int(first[np.searchsorted(first, wanted, side="left")])
            stop = self.n if stop <= start else stop
            bounds.append((start, stop))
            start = stop
        return bounds

    def _channel_tables(self) -> dict[tuple[Quantity, Period], npt.NDArray[np.uint16]]:
        """Channel code of each meter for each emitted (quantity, period): units differ."""
        exponents = np.unique(self.unit_exponent)
        position = np.searchsorted(exponents, self.unit_exponent)
        keys = [(q, p) for q in (Quantity.ACTIVE_IMPORT, Quantity.ACTIVE_EXPORT)
                for p in (Period.REGISTER, Period.MIN1, Period.MIN5, Period.MIN15, Period.MIN30)]
        keys.append((Quantity.REACTIVE_IMPORT, Period.MIN5))
        return {
            (q, p): np.array([channel_code(q, p, int(e)) for e in exponents], np.uint16)[position]
            for q, p in keys
        }

    def _day_context(self) -> _Day:
        day = profiles.local_day(self.minute)
        if self._day is not None and self._day.day == day:
            return self._day
        if self._day is not None:
            self._prev_ev = (self._day.ev_start - 1440, self._day.ev_end - 1440)
        seed = self.config.seed
        anomaly = float(np.random.default_rng([seed, 3, day.toordinal()]).normal(0, 2.0))
        power, rate = profiles.day_shape_table(day, anomaly)
        pad = lambda t: np.concatenate((t[:, -_PAD:], t, t[:, :_PAD]), axis=1)  # noqa: E731
        start = profiles.day_start_minute(day)
        pv_beam, pv_diffuse = profiles.pv_output_tables(
            start, 1440, profiles.temperature_curve(day, anomaly))
        clearness = profiles.day_cloudiness(max(1, self.topology.n_areas), day, seed,
                                            self.config.shard)
        ev_start, ev_centi_kwh = profiles.ev_sessions(len(self._ev_rows), day, self._seed)
        ev_kw = self.traits.ev_kw[self._ev_rows]
        ev_minutes = np.ceil(ev_centi_kwh / 100.0 / np.maximum(ev_kw, 0.1) * 60).astype(np.int32)
        self._day = _Day(day, start, pad(power), pad(rate), pv_beam, pv_diffuse, clearness,
                         ev_start,
                         ev_start + ev_minutes, joint_day_shape())
        if day not in self._outage_days:
            self._outage_days.add(day)
            topo = self.topology
            feeders = [topo.transformers_of_feeder(f) for f in range(topo.n_feeders)]
            self._outages.extend(profiles.draw_outages(
                day, feeders, self.config.transformer_outages_per_year,
                self.config.feeder_outages_per_year, self._seed))
        self._outages = [o for o in self._outages if o.end > self.minute]
        return self._day

    def _run_window(self, width: int) -> pa.Table | None:
        ctx = self._day_context()
        m0 = self.minute
        local = m0 - ctx.start_minute
        self._pv_table = self._pv_window(ctx, m0, local, width)
        self._pv_window_peak = float(self._pv_table.max()) if self._pv_table.size else 0.0
        active = [o for o in self._outages if o.start < m0 + width and o.end > m0]
        self._clock_steps = self._clock_window(m0, width)
        out = BatchEmitter()
        for start, stop in self._chunks:
            self._run_chunk(ctx, m0, local, width, start, stop, active, out)
            out.seal()
        self.minute = m0 + width
        self._joint.advance(m0, width, local, ctx.joint_rate, out)
        return out.table()

    def _run_chunk(self, ctx: _Day, m0: int, local: int, width: int, a: int, b: int,
                   outages: list[profiles.Outage], out: BatchEmitter) -> None:
        rows = slice(a, b)
        n = b - a
        rng = np.random.default_rng([*self._seed, 5, m0, a])
        traits = self.traits
        t = np.arange(width)
        base_index = (traits.archetype[rows].astype(np.int32) * (1440 + 2 * _PAD) + _PAD
                      - traits.shift_min[rows].astype(np.int32))
        index = base_index[None, :] + (local + t)[:, None].astype(np.int32)
        net = ctx.power.ravel()[index]
        # ±10 % minute-to-minute variation around the home's size: size × (0.9 … 1.1).
        size = traits.size[rows]
        noise = rng.random((width, n), dtype=np.float32)
        noise *= np.float32(0.2) * size
        noise += np.float32(0.9) * size
        net *= noise
        self._add_appliances(net, ctx.rate[:, _PAD + local:_PAD + local + width], rng, m0, a)
        self._add_ev(net, ctx, local, a, b)
        self._subtract_pv(net, a, b)

        conditions: list[tuple[npt.NDArray[np.intp], int, int, int]] = []
        for col, stepped in self._clock_steps.items():
            mine = stepped[(stepped >= a) & (stepped < b)]
            if mine.size:
                conditions.append((mine - a, col, col + 1, Quality.CLOCK_ADJUSTED))
        off_rows = np.flatnonzero(~self.connected[rows])
        if off_rows.size:
            net[:, off_rows] = 0.0
            conditions.append((off_rows, 0, width, Quality.DISCONNECTED))
        outage_rows, outage_mask = self._apply_outages(net, m0, width, a, b, outages, conditions)
        self._apply_breaker(net, m0, width, a, b, rng, conditions)

        boundaries = {p: np.flatnonzero((m0 + t + 1) % p == 0) for p in (5, 15, 30)}
        seg_ends = np.union1d(boundaries[5], [width - 1])
        seg_starts = np.concatenate(([0], seg_ends[:-1] + 1))
        seg_len = (seg_ends - seg_starts + 1).astype(np.float32)
        self._suppress_volt_rise(net, a, b, seg_starts, seg_len)
        every_minute = self.config.output.one_minute or 1 in self.storage

        # Energy: whole mWh per minute, integrated exactly (SPEC M1).
        imp_mwh = np.maximum(net, np.float32(0.0))
        imp_mwh *= _MWH_PER_W_MINUTE
        np.rint(imp_mwh, out=imp_mwh)
        imp_seg, imp_min = running_totals(imp_mwh, self.import_mwh[rows], seg_starts, seg_ends,
                                           every_minute)
        exp_seg = np.broadcast_to(self.export_mwh[rows], imp_seg.shape).copy()
        exp_min = (np.broadcast_to(self.export_mwh[rows], imp_min.shape).copy()
                   if imp_min is not None else None)
        lo, hi = np.searchsorted(self._pv_rows, [a, b])
        if lo < hi:
            pv = self._pv_rows[lo:hi] - a
            exp_mwh = np.rint(np.maximum(-net[:, pv], np.float32(0.0)) * _MWH_PER_W_MINUTE)
            exp_seg[:, pv], pv_min = running_totals(exp_mwh, self.export_mwh[a + pv],
                                                     seg_starts, seg_ends, every_minute)
            if exp_min is not None:
                exp_min[:, pv] = pv_min

        # Reactive energy and mean power per segment follow from the energy sums.
        imp_sums = np.diff(imp_seg, axis=0, prepend=self.import_mwh[rows][None, :])
        exp_sums = np.diff(exp_seg, axis=0, prepend=self.export_mwh[rows][None, :])
        rea_seg = np.rint(imp_sums * self._tan_phi[rows]).astype(np.int64)
        accumulate(rea_seg)
        rea_seg += self.reactive_mvarh[rows]
        net_seg = ((imp_sums - exp_sums) / (_MWH_PER_W_MINUTE * seg_len[:, None])).astype(
            np.float32)
        volt_seg = self._voltage(net_seg, a, b)
        supplied_seg = np.broadcast_to(seg_len[:, None], volt_seg.shape).copy()
        if outage_rows.size:
            off_per_seg = segment_sums(outage_mask, seg_starts)
            supplied_seg[:, outage_rows] -= off_per_seg

        unit = self.unit_mwh[rows]
        if unit.size and unit.min() == unit.max():
            unit = unit[0]  # dividing by a scalar is several times faster
        self._emit_boundaries(out, m0, width, a, b, boundaries, seg_ends, imp_seg, exp_seg,
                              imp_min, exp_min, rea_seg, volt_seg, supplied_seg, conditions, unit)

        self.import_mwh[rows] = imp_seg[-1]
        self.export_mwh[rows] = exp_seg[-1]
        self.reactive_mvarh[rows] = rea_seg[-1]
        # Instantaneous values of the last minute (M5).
        last = net[-1]
        self.power_w[rows] = last
        self.reactive_var[rows] = np.maximum(last, np.float32(0.0)) * self._tan_phi[rows]
        v100 = volt_seg[-1].copy()
        if outage_rows.size:
            v100[outage_rows] = np.where(outage_mask[-1] > 0, 0.0, v100[outage_rows])
        self.voltage_v[rows] = np.where(traits.three_phase[rows], 2 * v100, v100)
        three = traits.three_phase[rows]
        split = np.where(three, np.float32(1.0), self._leg_split[rows])
        basis = np.where(three, np.float32(346.4), np.float32(100.0))
        amps = np.where(v100 > 0, np.abs(last) / basis, np.float32(0.0))
        self.current_a[rows, 0] = amps * split
        self.current_a[rows, 1] = np.where(three, amps, amps * (1 - split))

    def _add_appliances(self, net, rate, rng, m0, a) -> None:
        """Switch appliances on as a Poisson process following each archetype's activity.

        ``rate`` is starts per minute by archetype for the window's minutes. Each meter
        draws its number of starts, each start its minute from the rate's distribution.
        """
        width, n = net.shape
        arch = self.traits.archetype[a:a + n]
        cumulative = np.cumsum(rate, axis=1, dtype=np.float64)
        expected = cumulative[:, -1]
        counts = rng.poisson(expected[arch])
        row = np.repeat(np.arange(n), counts)
        event_arch = arch[row].astype(np.intp)
        # Inverse-CDF sampling for all archetypes at once: shift each row's CDF by its index.
        cdf = cumulative / np.maximum(expected, 1e-12)[:, None] + np.arange(len(rate))[:, None]
        col = np.searchsorted(cdf.ravel(), rng.random(row.size) + event_arch, side="right")
        col = np.minimum(col - event_arch * width, width - 1)
        kind = rng.choice(len(profiles.APPLIANCES), size=row.size, p=profiles._APPLIANCE_P)
        watts = profiles._APPLIANCE_W[kind] * rng.uniform(0.85, 1.15, row.size).astype(np.float32)
        minutes = np.maximum(1, np.rint(rng.exponential(profiles._APPLIANCE_MIN[kind]))
                             ).astype(np.int64)
        watts *= self.traits.size[a + row] ** 0.3  # bigger homes, bigger appliances
        spikes = np.zeros((width + 1, n), np.float32)
        np.add.at(spikes, (col, row), watts)
        np.add.at(spikes, (np.minimum(col + minutes, width), row), -watts)
        accumulate(spikes)
        net += spikes[:width]
        # Appliances still running from earlier windows.
        carry_rows = np.flatnonzero(self._carry_until[a:a + n] > m0)
        if carry_rows.size:
            left = self._carry_until[a + carry_rows] - m0
            running = np.arange(width)[:, None] < left[None, :]
            net[:, carry_rows] += running * self._carry_w[a + carry_rows]
        expired = self._carry_until[a:a + n] <= m0 + width
        self._carry_w[a:a + n][expired] = 0.0
        beyond = col + minutes > width
        if beyond.any():
            rows_beyond = a + row[beyond]
            np.add.at(self._carry_w, rows_beyond, watts[beyond])
            np.maximum.at(self._carry_until, rows_beyond, m0 + col[beyond] + minutes[beyond])

    def _add_ev(self, net, ctx: _Day, local: int, a: int, b: int) -> None:
        lo, hi = np.searchsorted(self._ev_rows, [a, b])
        if lo == hi:
            return
        t = (local + np.arange(net.shape[0]))[:, None]
        charging = np.zeros((net.shape[0], hi - lo), np.bool_)
        for start, end in ((ctx.ev_start, ctx.ev_end), self._prev_ev):
            charging |= (t >= start[lo:hi]) & (t < end[lo:hi])
        net[:, self._ev_rows[lo:hi] - a] += charging * (self.traits.ev_kw[self._ev_rows[lo:hi]]
                                                        * np.float32(1000.0))

    def _pv_window(self, ctx: _Day, m0: int, local: int, width: int) -> npt.NDArray[np.float32]:
        """PV output per kWp for the window: ``(minute, orientation × area + area)``.

        The day's sky clearness of each weather area, dimmed by passing clouds, applied to
        the clear-sky beam and diffuse parts of each panel orientation.
        """
        clouds = profiles.cloud_transients(len(ctx.clearness), width, ctx.clearness,
                                           np.random.default_rng([*self._seed, 4, m0]))
        sky = ctx.clearness[:, None] * clouds  # (areas, width)
        minutes = slice(local, local + width)
        table = profiles.pv_output(ctx.pv_beam[:, None, minutes], ctx.pv_diffuse[:, None, minutes],
                                   sky[None, :, :])
        return np.ascontiguousarray(table.reshape(-1, width).T)

    def _subtract_pv(self, net, a: int, b: int) -> None:
        lo, hi = np.searchsorted(self._pv_rows, [a, b])
        if lo == hi:
            return
        output = self._pv_table[:, self._pv_column[lo:hi]]
        output *= self._pv_rated_w[lo:hi]
        net[:, self._pv_rows[lo:hi] - a] -= output

    def _suppress_volt_rise(self, net, a: int, b: int, seg_starts, seg_len) -> None:
        """PV inverters cut their output back while their voltage is above the limit.

        Each exporting inverter whose 5-minute mean voltage (100 V basis) exceeds the
        grid-code limit reduces its output by the excess over its own voltage sensitivity
        (transformer and service drop), down to no output at most. The inverter sees only
        its terminal voltage, so where the grid alone holds it above the limit it keeps
        cutting past zero export and the home draws its load from the grid.
        """
        limit = self.config.pv_volt_rise_limit_v
        lo, hi = np.searchsorted(self._pv_rows, [a, b])
        if limit is None or lo == hi:
            return
        # No inverter of the chunk can reach the limit at this window's brightest minute:
        # nothing to compute (night, cloud, and transformers with little PV).
        if not (self._pv_bound_v[0][lo:hi] + self._pv_window_peak * self._pv_bound_v[1][lo:hi]
                > limit).any():
            return
        pv = self._pv_rows[lo:hi] - a
        pv_net = net[:, pv]
        if not (pv_net < 0).any():
            return
        net_seg = segment_sums(net, seg_starts) / seg_len[:, None]
        excess = self._voltage(net_seg, a, b)[:, pv] - np.float32(limit)
        if not (excess > 0).any():
            return
        curtail_w = np.maximum(excess, np.float32(0.0)) / self._pv_volts_per_w[lo:hi]
        per_minute = np.repeat(curtail_w, seg_len.astype(np.intp), axis=0)
        output = self._pv_table[:, self._pv_column[lo:hi]] * self._pv_rated_w[lo:hi]
        net[:, pv] = np.where(pv_net < 0, pv_net + np.minimum(per_minute, output), pv_net)

    def _apply_outages(self, net, m0, width, a, b, outages, conditions):
        unpowered = np.flatnonzero(~self.supplied[a:b])  # restored at the latest in this window
        if not outages and not unpowered.size:
            return np.empty(0, np.intp), np.empty((width, 0), np.float32)
        topo = self.topology
        tx_lo, tx_hi = topo.meter_transformer[a], topo.meter_transformer[b - 1]
        masks: dict[int, npt.NDArray[np.bool_]] = {
            int(row): np.zeros(width, np.bool_) for row in unpowered
        }
        for outage in outages:
            txs = np.asarray(outage.transformers)
            txs = txs[(txs >= tx_lo) & (txs <= tx_hi)]
            s, e = max(0, outage.start - m0), min(width, outage.end - m0)
            for tx in txs:
                for row in topo.meters_of_transformer(int(tx)):
                    mask = masks.setdefault(row - a, np.zeros(width, np.bool_))
                    mask[s:e] = True
        if not masks:
            return np.empty(0, np.intp), np.empty((width, 0), np.float32)
        rows = np.fromiter(masks, np.intp, len(masks))
        off = np.stack([masks[r] for r in rows], axis=1)
        net[:, rows] = np.where(off, 0.0, net[:, rows])
        for k, row in enumerate(rows):
            self._supply_transitions(a + row, m0, off[:, k])
            cols = np.flatnonzero(off[:, k])
            if cols.size:
                conditions.append((np.array([row]), int(cols[0]), int(cols[-1]) + 1,
                                   Quality.POWER_OUTAGE))
        return rows, off.astype(np.float32)

    def _supply_transitions(self, row: int, m0: int, off: npt.NDArray[np.bool_]) -> None:
        """Power-down, Last Gasp and restore events of one meter over a window (M6)."""
        state = np.concatenate(([not self.supplied[row]], off))
        for col in np.flatnonzero(state[1:] != state[:-1]):
            moment = (m0 + int(col)) * 60
            if state[col + 1]:
                self._event(row, moment, EventKind.POWER_DOWN)
                charged = moment - self.restored_at[row] >= self.config.last_gasp.recharge_seconds
                cap = self.config.last_gasp
                if self.last_gasp_enabled[row] and charged and cap.capacitor_joules >= (
                    cap.alarm_joules
                ):
                    self._event(row, moment + 1, EventKind.LAST_GASP)
            else:
                self._event(row, moment, EventKind.POWER_RESTORED)
                self.restored_at[row] = moment
        self.supplied[row] = not off[-1]

    def _apply_breaker(self, net, m0, width, a, b, rng, conditions) -> None:
        """Trip, re-close and lockout of the ampere breaker, minute by minute (SPEC M7)."""
        cfg = self.config.breaker
        limit_w = (self.limit_a[a:b].astype(np.float32) * np.float32(cfg.trip_ratio)
                   * self._watts_per_leg_amp[a:b])
        locked = np.flatnonzero(self.breaker[a:b] == BREAKER_LOCKED)
        over = np.flatnonzero((net > limit_w).any(axis=0))
        for row in np.union1d(locked, over):
            self._breaker_row(net[:, row], a + int(row), m0, float(limit_w[row]), rng, conditions,
                              int(row))

    def _breaker_row(self, load, row, m0, limit_w, rng, conditions, local_row) -> None:
        cfg = self.config.breaker
        shedding = False
        tripped_cols: list[int] = []
        for col in range(load.size):
            minute_start = (m0 + col) * 60
            if self.breaker[row] == BREAKER_LOCKED:
                load[col] = 0.0
                continue
            if shedding and load[col] > limit_w:
                load[col] = limit_w * 0.85
                continue
            shedding = False
            if load[col] <= limit_w:
                continue
            moment, off_seconds = minute_start, 0
            while moment < minute_start + 60:
                tripped_cols.append(col)
                self._event(row, moment, EventKind.BREAKER_TRIP, int(self.limit_a[row]))
                times = self.trip_times[row]
                times[:-1] = times[1:]
                times[-1] = moment
                if times[0] >= moment - cfg.lockout_window_seconds:
                    self.breaker[row] = BREAKER_LOCKED
                    self._event(row, moment, EventKind.BREAKER_LOCKOUT, cfg.lockout_trips)
                    off_seconds = minute_start + 60 - moment
                    break
                self._event(row, moment + cfg.reclose_seconds, EventKind.BREAKER_RECLOSE)
                off_seconds += cfg.reclose_seconds
                if rng.random() < cfg.shed_probability:
                    shedding = True
                    break
                moment += cfg.reclose_seconds + 1
            supplied = max(0, 60 - off_seconds) / 60.0
            load[col] = (limit_w * 0.85 if shedding else load[col]) * supplied
        if tripped_cols:
            conditions.append((np.array([local_row]), min(tripped_cols), max(tripped_cols) + 1,
                               Quality.BREAKER_TRIP))
        if self.breaker[row] == BREAKER_LOCKED:
            conditions.append((np.array([local_row]), 0, load.size, Quality.BREAKER_TRIP))

    def _voltage(self, net_seg, a, b) -> npt.NDArray[np.float32]:
        """100 V-side voltage per segment and meter: transformer tap and loading, service drop."""
        topo = self.topology
        tx = topo.meter_transformer[a:b]
        first_tx = int(tx[0])
        starts = (topo.transformer_first_meter[first_tx:int(tx[-1]) + 1] - a).astype(np.intp)
        load = np.add.reduceat(net_seg, starts, axis=1)
        local_tx = tx - first_tx
        tx_rows = slice(first_tx, int(tx[-1]) + 1)
        v_tx = profiles.transformer_voltage(self._tap_v[tx_rows], load,
                                            topo.transformer_capacity_w[tx_rows])
        return (v_tx[:, local_tx] - profiles.service_drop(net_seg, self.traits.three_phase[a:b])
                ).astype(np.float32)

    def _emit_boundaries(self, out, m0, width, a, b, boundaries, seg_ends, imp_seg, exp_seg,
                         imp_min, exp_min, rea_seg, volt_seg, supplied_seg, conditions,
                         unit) -> None:
        rows = slice(a, b)
        n = b - a
        ids = self.meter_ids[rows]
        store1 = self.storage.get(1)
        if imp_min is not None:
            cols = np.arange(width)
            imp_units = imp_min // unit
            exp_units = exp_min // unit
            if self.config.output.one_minute:
                ends = (m0 + cols + 1) * 60
                prev_imp = np.vstack((self._prev_units[("imp", 1)][rows], imp_units[:-1]))
                prev_exp = np.vstack((self._prev_units[("exp", 1)][rows], exp_units[:-1]))
                for q, period_values in ((Quantity.ACTIVE_IMPORT, imp_units - prev_imp),
                                         (Quantity.ACTIVE_EXPORT, exp_units - prev_exp)):
                    out.add(np.tile(ids, width), np.repeat(ends, n),
                            np.tile(self._channels[(q, Period.MIN1)][rows], width),
                            period_values.ravel(), 0)
            self._prev_units[("imp", 1)][rows] = imp_units[-1]
            self._prev_units[("exp", 1)][rows] = exp_units[-1]
            if store1 is not None:
                self._store_chunk(1, m0 + cols + 1, rows, {"imp": imp_units % REGISTER_MODULUS,
                                                          "exp": exp_units % REGISTER_MODULUS})
        seg_index = {int(c): k for k, c in enumerate(seg_ends)}
        five_rows = np.flatnonzero(self.five_minute[rows])
        for period in (5, 15, 30):
            cols = boundaries[period]
            flags = self._interval_flags(period, cols, width, n, conditions, rows)
            for k, col in enumerate(cols):
                boundary = m0 + int(col) + 1
                s = seg_index[int(col)]
                imp_u = imp_seg[s] // unit
                exp_u = exp_seg[s] // unit
                imp_iv = imp_u - self._prev_units[("imp", period)][rows]
                exp_iv = exp_u - self._prev_units[("exp", period)][rows]
                self._prev_units[("imp", period)][rows] = imp_u
                self._prev_units[("exp", period)][rows] = exp_u
                quality = flags[k]
                store = period in self.storage
                if period == 5:
                    rea_u = rea_seg[s] // unit
                    rea_iv = rea_u - self._prev_units[("rea", 5)][rows]
                    self._prev_units[("rea", 5)][rows] = rea_u
                    self._v_sum[rows] += volt_seg[s] * supplied_seg[s]
                    self._v_minutes[rows] += supplied_seg[s].astype(np.int32)
                    # Mean voltages only of the meters that need them: all when storing.
                    chosen = slice(None) if store else five_rows
                    decivolts = self._mean_decivolts(rows, chosen)
                    self._v_sum[rows] = 0.0
                    self._v_minutes[rows] = 0
                    self._emit_five_minute(out, boundary, rows, five_rows, imp_iv, exp_iv, rea_iv,
                                           decivolts[five_rows] if store else decivolts, quality)
                    if store:
                        stored = {"imp": imp_u % REGISTER_MODULUS, "exp": exp_u % REGISTER_MODULUS,
                                  "rea": rea_u % REGISTER_MODULUS, "volt": decivolts}
                else:
                    self._emit_transmit(out, boundary, period, rows, imp_iv, exp_iv, imp_u, exp_u,
                                        quality)
                    if store:
                        stored = {"imp": imp_u % REGISTER_MODULUS, "exp": exp_u % REGISTER_MODULUS}
                if store:
                    self._store_chunk(period, [boundary], rows,
                                      {k2: v[None, :] for k2, v in stored.items()},
                                      quality[None, :])
        # Voltage of the minutes after the last 5-minute boundary carries to the next window.
        last_boundary = boundaries[5][-1] if boundaries[5].size else -1
        if last_boundary != width - 1:
            s = len(seg_ends) - 1
            self._v_sum[rows] += volt_seg[s] * supplied_seg[s]
            self._v_minutes[rows] += supplied_seg[s].astype(np.int32)

    def _interval_flags(self, period, cols, width, n, conditions, rows):
        """Quality flags of each interval ending in this window (one row per boundary)."""
        pending = self._pending_flags[period]
        flags = np.zeros((len(cols) + 1, n), np.uint16)
        flags[0] = pending[rows]
        if conditions:
            for local_rows, start, stop, bit in conditions:
                first = np.searchsorted(cols, start, side="left")
                last = np.searchsorted(cols, stop - 1, side="left")
                flags[first:last + 1, local_rows] |= np.uint16(bit)
        pending[rows] = flags[-1]
        return flags

    def _mean_decivolts(self, rows: slice, chosen) -> npt.NDArray[np.int64]:
        """Mean voltage of the 5-minute interval just ended, 0.1 V, of ``rows[chosen]``:
        the service voltage, 200 V class for three-phase services."""
        minutes = self._v_minutes[rows][chosen]
        volts = np.where(minutes > 0, self._v_sum[rows][chosen] / np.maximum(minutes, 1), 0.0)
        volts = np.where(self.traits.three_phase[rows][chosen], 2 * volts, volts)
        return np.rint(volts * 10).astype(np.int64)

    def _emit_transmit(self, out, boundary, period, rows, imp_iv, exp_iv, imp_units, exp_units,
                       quality):
        if not self.config.output.transmit:
            return
        chosen = np.flatnonzero(self.soft_switch[rows] == period)
        if not chosen.size:
            return
        p = Period.MIN15 if period == 15 else Period.MIN30
        ids = self.meter_ids[rows][chosen]
        q = quality[chosen]
        end = boundary * 60
        for quantity, values, units in ((Quantity.ACTIVE_IMPORT, imp_iv, imp_units),
                                        (Quantity.ACTIVE_EXPORT, exp_iv, exp_units)):
            out.add(ids, end, self._channels[(quantity, p)][rows][chosen], values[chosen], q)
            out.add(ids, end, self._channels[(quantity, Period.REGISTER)][rows][chosen],
                    units[chosen] % REGISTER_MODULUS, q)

    def _emit_five_minute(self, out, boundary, rows, chosen, imp_iv, exp_iv, rea_iv, decivolts,
                          quality):
        """5-minute values of the chunk's meters in the 5-minute group (``chosen``);
        ``decivolts`` are the chosen meters' voltages."""
        if not chosen.size:
            return
        ids = self.meter_ids[rows][chosen]
        q = quality[chosen]
        end = boundary * 60
        for key, values in (((Quantity.ACTIVE_IMPORT, Period.MIN5), imp_iv),
                            ((Quantity.ACTIVE_EXPORT, Period.MIN5), exp_iv),
                            ((Quantity.REACTIVE_IMPORT, Period.MIN5), rea_iv)):
            out.add(ids, end, self._channels[key][rows][chosen], values[chosen], q)
        out.add(ids, end, channel_code(Quantity.VOLTAGE, Period.MIN5), decivolts, q)

    def _store_chunk(self, period, boundaries, rows, values, flags=None) -> None:
        """Write readings of one chunk; a boundary is committed by the last chunk."""
        store = self.storage[period]
        for k, boundary in enumerate(boundaries):
            store.write(int(boundary), {name: values[name][k] for name in store.names},
                        0 if flags is None else flags[k], rows)
            if rows.stop == self.n:
                store.commit(int(boundary))
