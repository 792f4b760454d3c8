"""Load, generation, EV and voltage profiles for a Japanese low-voltage fleet.

Pure, vectorized functions. Every random draw takes a ``numpy.random.Generator`` so that a
fleet is deterministic by seed. Powers are watts (float32), time is minutes: ``minute``
means minutes since the POSIX epoch (UTC); ``local minute of day`` is JST (UTC+9), the
time the customers live by.

What the curves carry (see ``docs/profiles.md``):

* household archetypes with weekday/holiday activity, lognormal size spread and a
  per-home time shift, so that aggregates are smooth and single homes are spiky;
* heating and cooling driven by a Tokyo-like temperature model, so that winter and
  August are the peak months and May/October the troughs (seasonal shape);
* appliance events (kettle, microwave, dryer, IH cooking, washer-dryer) whose rate follows
  the archetype's activity, which is what trips the ampere breaker (SPEC M7);
* PV on a share of homes on tilted roofs (plane-of-array irradiance, ``smame.meter.solar``),
  a monthly climate of sky clearness with the rainy-season dip, day-to-day weather and
  passing clouds, so that homes export at midday; inverters suppress voltage rise;
* EV charging on a share of homes, evening plug-in or night timer;
* supply outages per transformer and per feeder, as Poisson processes;
* voltage at each transformer from tap setting and loading, and at each meter from its own
  service-drop current, inside 101±6 V / 202±20 V with rare excursions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from smame.clock import JST_OFFSET_S, jst_day, jst_day_start
from smame.meter import solar

F32 = npt.NDArray[np.float32]

JST_OFFSET_MINUTES = JST_OFFSET_S // 60
MINUTES_PER_DAY = 1440
TOKYO_LATITUDE_DEG = 35.68


def local_day(minute: int) -> date:
    """JST calendar day of a UTC epoch minute."""
    return jst_day(minute * 60)


def day_start_minute(day: date) -> int:
    """UTC epoch minute of 00:00 JST on ``day``."""
    return jst_day_start(day) // 60


_FIXED_HOLIDAYS = {
    (1, 1), (1, 2), (1, 3), (2, 11), (2, 23), (4, 29), (5, 3), (5, 4), (5, 5),
    (8, 11), (8, 13), (8, 14), (8, 15), (11, 3), (11, 23), (12, 29), (12, 30), (12, 31),
}


def is_holiday(day: date) -> bool:
    """Weekend, fixed-date national holiday, Obon or New-Year break (JST calendar)."""
    return day.weekday() >= 5 or (day.month, day.day) in _FIXED_HOLIDAYS


# --------------------------------------------------------------------------- archetypes


@dataclass(frozen=True)
class Archetype:
    """A kind of customer. ``weekday``/``holiday`` are 24 hourly activity levels 0..1."""

    name: str
    share: float
    base_w: float  # standby + refrigerator
    active_w: float  # lighting, TV, cooking at full activity
    weekday: tuple[float, ...]
    holiday: tuple[float, ...]
    hvac_w_per_deg: float  # heating/cooling power per degree outside the comfort band
    appliance_rate_per_hour: float  # appliance starts per hour at full activity
    contract_amps: tuple[int, ...]  # possible contracts (10–60 A), drawn uniformly
    night_heat_pump_w: float = 0.0  # EcoCute: 23:00–07:00 hot-water heating
    three_phase_200v: bool = False  # low-voltage power service (低圧電力), 202 V class
    persons: int = 2  # household members; 0 for a business


# Shares of homes follow the 2020 census (令和2年国勢調査, 一般世帯の家族類型): one-person
# households 38.0 % (of which about a third aged 65+), couples only 20.1 %, couples with
# children, single parents and others the rest. Small shops are 7 % of the meters.
_SHOP_SHARE = 0.07
_HOME_SHARE = 1.0 - _SHOP_SHARE


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "single worker", 0.26 * _HOME_SHARE, 90, 350,
        (.15, .1, .1, .1, .1, .15, .45, .7, .35, .1, .08, .08,
         .08, .08, .08, .08, .1, .15, .3, .55, .75, .8, .7, .4),
        (.2, .15, .1, .1, .1, .1, .15, .3, .5, .6, .55, .5,
         .5, .45, .4, .4, .45, .5, .6, .7, .75, .75, .65, .4),
        20, 0.6, (20, 30, 30, 30, 30, 40), persons=1,
    ),
    Archetype(
        "family", 0.34 * _HOME_SHARE, 150, 450,
        (.2, .12, .1, .1, .1, .25, .75, .9, .55, .35, .3, .35,
         .4, .3, .3, .35, .5, .75, .95, 1.0, .95, .8, .6, .35),
        (.25, .15, .1, .1, .1, .15, .4, .65, .8, .75, .7, .75,
         .8, .7, .65, .65, .7, .85, 1.0, 1.0, .95, .85, .65, .4),
        45, 1.0, (30, 40, 40, 50, 60), persons=4,
    ),
    Archetype(
        "couple", 0.17 * _HOME_SHARE, 130, 400,
        (.15, .1, .1, .1, .2, .5, .75, .7, .6, .55, .55, .65,
         .6, .5, .5, .5, .6, .8, .85, .8, .6, .35, .2, .15),
        (.15, .1, .1, .1, .2, .5, .75, .7, .6, .55, .55, .65,
         .6, .5, .5, .5, .6, .8, .85, .8, .6, .35, .2, .15),
        35, 0.7, (30, 30, 30, 40),
    ),
    Archetype(
        "all-electric home", 0.11 * _HOME_SHARE, 180, 450,
        (.2, .12, .1, .1, .1, .25, .75, .9, .55, .35, .3, .35,
         .4, .3, .3, .35, .5, .75, .95, 1.0, .95, .8, .6, .35),
        (.25, .15, .1, .1, .1, .15, .4, .65, .8, .75, .7, .75,
         .8, .7, .65, .65, .7, .85, 1.0, 1.0, .95, .85, .65, .4),
        55, 1.2, (50, 60, 60), night_heat_pump_w=1350, persons=4,
    ),
    Archetype(
        "small shop (低圧電力)", _SHOP_SHARE, 500, 1000,
        (.1, .1, .1, .1, .1, .1, .15, .3, .7, .95, 1.0, 1.0,
         1.0, 1.0, 1.0, 1.0, 1.0, .95, .8, .5, .2, .1, .1, .1),
        (.1, .1, .1, .1, .1, .1, .1, .2, .5, .8, .9, .9,
         .9, .9, .9, .9, .85, .8, .6, .3, .15, .1, .1, .1),
        70, 0.5, (40, 50, 60), three_phase_200v=True, persons=0,
    ),
    Archetype(
        "single elderly", 0.12 * _HOME_SHARE, 80, 260,
        (.1, .08, .08, .08, .15, .4, .65, .6, .5, .45, .45, .55,
         .5, .45, .45, .45, .55, .7, .7, .6, .4, .2, .12, .1),
        (.1, .08, .08, .08, .15, .4, .65, .6, .5, .45, .45, .55,
         .5, .45, .45, .45, .55, .7, .7, .6, .4, .2, .12, .1),
        22, 0.45, (20, 30, 30), persons=1,
    ),
)

ARCHETYPE_SHARES = np.array([a.share for a in ARCHETYPES]) / sum(a.share for a in ARCHETYPES)
ARCHETYPE_PERSONS = np.array([a.persons for a in ARCHETYPES], np.int8)

# Appliances: (name, watts, mean minutes, relative frequency)
APPLIANCES: tuple[tuple[str, float, float, float], ...] = (
    ("kettle", 1250.0, 3.0, 0.22),
    ("microwave", 1350.0, 3.0, 0.22),
    ("hair dryer", 1200.0, 7.0, 0.10),
    ("IH cooktop", 2000.0, 18.0, 0.14),
    ("rice cooker", 1000.0, 25.0, 0.08),
    ("washer-dryer", 1100.0, 55.0, 0.06),
    ("vacuum", 1000.0, 12.0, 0.08),
    ("toaster oven", 1100.0, 6.0, 0.10),
)
_APPLIANCE_W = np.array([a[1] for a in APPLIANCES], np.float32)
_APPLIANCE_MIN = np.array([a[2] for a in APPLIANCES], np.float32)
_APPLIANCE_P = np.array([a[3] for a in APPLIANCES]) / sum(a[3] for a in APPLIANCES)


# --------------------------------------------------------------------------- weather


def daily_mean_temperature(day: date) -> float:
    """Tokyo-like daily mean air temperature in °C: about 5 °C in January, 27 °C in August."""
    doy = day.timetuple().tm_yday
    return 16.0 - 11.0 * math.cos(2 * math.pi * (doy - 20) / 365.25)


def temperature_curve(day: date, anomaly: float = 0.0) -> F32:
    """Air temperature for each local minute of ``day`` (°C), warmest at 14:00."""
    minutes = np.arange(MINUTES_PER_DAY, dtype=np.float32)
    swing = 3.5 + 1.0 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 100) / 365.25)
    diurnal = swing * np.cos(2 * np.pi * (minutes - 14 * 60) / MINUTES_PER_DAY)
    return (daily_mean_temperature(day) + anomaly + diurnal).astype(np.float32)


def hvac_demand_factor(temperature: F32) -> F32:
    """Weighted degrees outside the 16–24 °C comfort band.

    Heating weighs 0.55: many Japanese homes heat with gas or kerosene. Cooling is
    electric (air conditioners) and weighs 1.3.
    """
    heating = np.maximum(0.0, 16.0 - temperature) * 0.55
    cooling = np.maximum(0.0, temperature - 24.0) * 1.3
    return (heating + cooling).astype(np.float32)


def _hourly_to_minutes(hourly: tuple[float, ...]) -> F32:
    hours = np.arange(MINUTES_PER_DAY, dtype=np.float64) / 60.0
    knots = np.arange(25, dtype=np.float64)
    values = np.array((*hourly, hourly[0]), dtype=np.float64)
    return np.interp(hours, knots, values).astype(np.float32)


def day_shape_table(day: date, anomaly: float = 0.0) -> tuple[F32, F32]:
    """Per archetype, for each local minute of ``day``: (mean power W, appliance rate /min).

    Returns two ``(len(ARCHETYPES), 1440)`` tables. Power is base + activity-weighted
    use + HVAC (occupancy-weighted) + night heat pump; the rate is appliance starts per
    minute. Both are before the household's own size factor.
    """
    holiday = is_holiday(day)
    hvac = hvac_demand_factor(temperature_curve(day, anomaly))
    minute = np.arange(MINUTES_PER_DAY)
    heat_pump_on = ((minute >= 23 * 60) | (minute < 2 * 60 + 30)).astype(np.float32)
    # Hot-water demand is higher in winter: the heat pump runs longer.
    heat_pump_on *= 1.0 + 0.8 * (hvac.mean() / 10.0)
    power = np.empty((len(ARCHETYPES), MINUTES_PER_DAY), np.float32)
    rate = np.empty_like(power)
    for k, arch in enumerate(ARCHETYPES):
        activity = _hourly_to_minutes(arch.holiday if holiday else arch.weekday)
        occupancy = np.clip(0.35 + activity, 0.0, 1.0)
        power[k] = (
            arch.base_w
            + arch.active_w * activity
            + arch.hvac_w_per_deg * hvac * occupancy
            + arch.night_heat_pump_w * heat_pump_on
        )
        rate[k] = arch.appliance_rate_per_hour / 60.0 * activity
    return power, rate


# --------------------------------------------------------------------------- households


@dataclass
class HouseholdTraits:
    """Fixed traits of each home, drawn once per fleet (arrays of length ``n``)."""

    archetype: npt.NDArray[np.int8]
    size: F32  # lognormal size factor (median 1)
    shift_min: npt.NDArray[np.int16]  # personal time shift of the daily routine
    contract_amps: npt.NDArray[np.int8]
    power_factor: F32
    pv_kw: F32  # 0 where no PV
    ev_kw: F32  # 0 where no EV charger
    three_phase: npt.NDArray[np.bool_]
    pv_orientation: npt.NDArray[np.int8]  # index into PV_ORIENTATIONS (0 where no PV)


def draw_households(
    n: int, rng: np.random.Generator, pv_share: float, ev_share: float
) -> HouseholdTraits:
    """Draw the traits of ``n`` homes: archetype, size, contract, PV, EV (deterministic by rng)."""
    archetype = rng.choice(len(ARCHETYPES), size=n, p=ARCHETYPE_SHARES).astype(np.int8)
    size = rng.lognormal(0.0, 0.32, n).astype(np.float32)
    shift = np.clip(rng.normal(0, 35, n), -90, 90).astype(np.int16)
    contract = np.empty(n, np.int8)
    for k, arch in enumerate(ARCHETYPES):
        mask = archetype == k
        contract[mask] = rng.choice(arch.contract_amps, size=int(mask.sum()))
    three_phase = np.array([a.three_phase_200v for a in ARCHETYPES])[archetype]
    homes = ~three_phase
    pv = (rng.random(n) < pv_share) & homes
    pv_kw = np.where(pv, rng.uniform(3.0, 7.5, n), 0.0).astype(np.float32)
    ev = (rng.random(n) < ev_share) & homes
    ev_kw = np.where(ev, rng.choice([3.0, 3.0, 6.0], n), 0.0).astype(np.float32)
    # EV owners raise their contract so that charging does not trip the breaker.
    contract = np.where(ev_kw >= 6.0, 60, np.where(ev_kw > 0, np.maximum(contract, 50), contract))
    contract = contract.astype(np.int8)
    power_factor = rng.uniform(0.90, 0.99, n).astype(np.float32)
    orientation = np.where(pv, rng.choice(len(PV_ORIENTATIONS), size=n, p=_PV_ORIENTATION_P),
                           0).astype(np.int8)
    return HouseholdTraits(archetype, size, shift, contract, power_factor, pv_kw, ev_kw,
                           three_phase, orientation)


def base_demand(
    power_table: F32, traits: HouseholdTraits, rows: slice, local_minute: int, width: int,
    rng: np.random.Generator,
) -> F32:
    """Mean demand (W) of homes ``rows`` for ``width`` minutes from ``local_minute`` of day.

    Each home follows its archetype's curve shifted by its own routine offset, scaled by
    its size, with 6 % minute-to-minute noise.
    """
    arch = traits.archetype[rows].astype(np.intp)
    cols = (local_minute - traits.shift_min[rows].astype(np.intp))[:, None] + np.arange(width)
    cols %= MINUTES_PER_DAY
    demand = power_table.ravel()[arch[:, None] * MINUTES_PER_DAY + cols]
    noise = rng.standard_normal(demand.shape, dtype=np.float32)
    noise *= np.float32(0.06)
    noise += np.float32(1.0)
    demand *= noise
    demand *= traits.size[rows, None]
    return demand


def appliance_starts(
    rate_table: F32, traits: HouseholdTraits, rows: slice, local_minute: int, width: int,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], F32, npt.NDArray[np.int32]]:
    """Appliance switch-ons in the window: (row, column, watts, duration minutes).

    The start probability per minute follows the archetype's activity at the home's
    own (shifted) time.
    """
    n = rows.stop - rows.start
    arch = traits.archetype[rows].astype(np.intp)
    # One uniform per meter-minute; compare against the activity-driven rate.
    uniform = rng.random((n, width), dtype=np.float32)
    cols = (local_minute - traits.shift_min[rows].astype(np.intp))[:, None] + np.arange(width)
    cols %= MINUTES_PER_DAY
    starts = uniform < rate_table.ravel()[arch[:, None] * MINUTES_PER_DAY + cols]
    row, col = np.nonzero(starts)
    kind = rng.choice(len(APPLIANCES), size=row.size, p=_APPLIANCE_P)
    watts = _APPLIANCE_W[kind] * rng.uniform(0.85, 1.15, row.size).astype(np.float32)
    minutes = np.maximum(1, rng.exponential(_APPLIANCE_MIN[kind]).round()).astype(np.int32)
    return row, col, watts.astype(np.float32), minutes


# --------------------------------------------------------------------------- PV


# Panels on Japanese roofs: mostly south-facing, many on the east and west slopes of gable
# roofs, pitched like the roof (4–5 寸, about 22–27°). (tilt °, azimuth ° from south, share)
PV_ORIENTATIONS: tuple[tuple[float, float, float], ...] = (
    (25.0, 0.0, 0.34), (25.0, -45.0, 0.17), (25.0, 45.0, 0.17), (25.0, -90.0, 0.08),
    (25.0, 90.0, 0.08), (15.0, 0.0, 0.08), (35.0, 0.0, 0.08),
)
_PV_ORIENTATION_P = np.array([o[2] for o in PV_ORIENTATIONS]) / sum(o[2] for o in PV_ORIENTATIONS)
TOKYO_LONGITUDE_DEG = 139.69
PV_PERFORMANCE_RATIO = 0.85  # inverter, wiring, soiling and mismatch (JIS C 8907 K factors)
PV_TEMPERATURE_COEFFICIENT = 0.004  # crystalline silicon, per K above 25 °C cell temperature
PV_CELL_RISE_K_PER_KW_M2 = 30.0  # cell above air temperature at 1 kW/m² on a roof mount
# Monthly mean sky clearness s (0 overcast … 1 clear, see pv_output) that gives Tokyo's
# monthly global horizontal irradiation (JMA 1991–2020 normals, as NEDO METPV-20 carries
# them) under the Haurwitz clear sky: the June dip is the rainy season (梅雨).
MONTHLY_SKY_CLEARNESS = (0.73, 0.69, 0.54, 0.49, 0.45, 0.30, 0.40, 0.48, 0.42, 0.45, 0.54, 0.68)
OVERCAST_GLOBAL_SHARE = 0.2  # global irradiance under full overcast, share of clear sky


def pv_output_tables(start_minute: int, minutes: int, air_temperature: F32) -> tuple[F32, F32]:
    """Per orientation and minute, the two parts of PV output per kWp (kW/kWp).

    Under sky clearness ``s`` the beam is ``s²`` of the clear-sky beam and the global
    irradiance ``0.2 + 0.8 s`` of the clear-sky global; the rest is diffuse, seen by the
    panel as an isotropic sky, plus the ground's reflection. Output per kWp is then
    ``s² · beam + (0.2 + 0.8 s) · diffuse`` with the two ``(orientations, minutes)`` tables
    returned here; each includes the performance ratio and the cell-temperature loss.
    """
    minute = np.arange(start_minute, start_minute + minutes, dtype=np.int64)
    cos_z, sin_z, sun_az = solar.sun_position(minute, TOKYO_LATITUDE_DEG, TOKYO_LONGITUDE_DEG)
    ghi = solar.clear_sky_ghi(cos_z)
    day_of_year = local_day(start_minute).timetuple().tm_yday
    top = solar.extraterrestrial_normal(day_of_year) * np.maximum(cos_z, 1e-6)
    diffuse_share = solar.erbs_diffuse_fraction(np.where(cos_z > 0, ghi / top, 0.0))
    beam_horizontal = ghi * (1.0 - diffuse_share)
    beam_normal = np.where(cos_z > 0.05, beam_horizontal / np.maximum(cos_z, 0.05), 0.0)
    beam = np.empty((len(PV_ORIENTATIONS), minutes))
    diffuse = np.empty_like(beam)
    for k, (tilt_deg, azimuth_deg, _) in enumerate(PV_ORIENTATIONS):
        tilt = math.radians(tilt_deg)
        on_plane = beam_normal * solar.cos_incidence(cos_z, sin_z, sun_az, tilt,
                                                     math.radians(azimuth_deg))
        sky = solar.sky_view(tilt)
        beam[k] = on_plane - beam_horizontal * sky
        diffuse[k] = ghi * (sky + solar.ground_view(tilt))
    clear_poa = beam + diffuse  # kW/m² × 1000
    cell = air_temperature[None, :] + PV_CELL_RISE_K_PER_KW_M2 * clear_poa / 1000.0
    derate = PV_PERFORMANCE_RATIO * (1.0 - PV_TEMPERATURE_COEFFICIENT * np.maximum(0.0, cell - 25))
    scale = derate / 1000.0
    return (beam * scale).astype(np.float32), (diffuse * scale).astype(np.float32)


def pv_output(beam: F32, diffuse: F32, sky_clearness: F32) -> F32:
    """PV output per kWp from :func:`pv_output_tables` parts and sky clearness (0–1)."""
    s = sky_clearness
    return s * s * beam + (OVERCAST_GLOBAL_SHARE + (1 - OVERCAST_GLOBAL_SHARE) * s) * diffuse


def mean_sky_clearness(day: date) -> float:
    """Climatological mean sky clearness of ``day``: its month's value (monthly normals)."""
    return MONTHLY_SKY_CLEARNESS[day.month - 1]


def day_cloudiness(n_areas: int, day: date, seed: int, shard: int = 0) -> F32:
    """Daily sky clearness per weather area (0 overcast … 1 clear), deterministic per day.

    Its mean follows the season (:func:`mean_sky_clearness`); days are mostly clear or
    mostly cloudy (beta distributions). The day's synoptic weather depends on ``seed``
    alone, so every shard of a national fleet sees the same weather; the local variation
    per area is the shard's own.
    """
    mean = mean_sky_clearness(day)
    spread = 2.5  # beta concentration: low, so both clear and overcast days are common
    regime = np.random.default_rng([seed, 7001, day.toordinal()]).beta(
        mean * spread, (1 - mean) * spread)
    local = np.random.default_rng([seed, shard, 7004, day.toordinal()]).beta(
        mean * 8.0, (1 - mean) * 8.0, n_areas)
    return np.clip(0.7 * regime + 0.3 * local, 0.0, 1.0).astype(np.float32)


def cloud_transients(
    n_areas: int, width: int, clearness: F32, rng: np.random.Generator
) -> F32:
    """Minute-scale cloud shading per area: passing clouds on partly cloudy days."""
    variability = 4.0 * clearness * (1.0 - clearness)  # most on partly cloudy days
    dips = rng.random((n_areas, width), dtype=np.float32) < (0.15 * variability)[:, None]
    shade = np.where(dips, rng.uniform(0.3, 0.8, (n_areas, width)).astype(np.float32), 1.0)
    return shade.astype(np.float32)


# --------------------------------------------------------------------------- EV


def ev_sessions(
    n_ev: int, day: date, seed: Sequence[int]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Charging session of each EV home on ``day``: (start local minute, duration minutes).

    Half the owners charge on plug-in after the evening return (18–21 h), half on a
    night-rate timer (23:00–01:00). The energy needed follows the day's driving
    (lognormal, median 7 kWh); duration is filled in by the caller from charger power.
    Start minutes may pass midnight (≥ 1440). A session of 0 minutes means no charging.
    """
    rng = np.random.default_rng([*seed, 7002, day.toordinal()])
    timer = rng.random(n_ev) < 0.5
    start = np.where(timer, rng.integers(23 * 60, 25 * 60, n_ev), rng.normal(19.3 * 60, 70, n_ev))
    energy_kwh = np.where(rng.random(n_ev) < 0.75, rng.lognormal(math.log(7.0), 0.5, n_ev), 0.0)
    return start.astype(np.int32), (energy_kwh * 100).astype(np.int32)  # kWh×100 for caller


# --------------------------------------------------------------------------- outages


@dataclass(frozen=True)
class Outage:
    """A supply interruption of some transformers, in UTC epoch minutes [start, end)."""

    start: int
    end: int
    transformers: tuple[int, ...]
    cause: str = "fault"


def draw_outages(
    day: date,
    feeder_transformers: list[range],
    transformer_rate_per_year: float,
    feeder_rate_per_year: float,
    seed: Sequence[int],
) -> list[Outage]:
    """Random outages starting on ``day``, per transformer and per feeder (Poisson).

    Durations are lognormal (median 45 min for a transformer, 25 min for a feeder whose
    automatic sectionalizing restores most customers quickly).
    """
    rng = np.random.default_rng([*seed, 7003, day.toordinal()])
    start0 = day_start_minute(day)
    outages: list[Outage] = []
    n_tx = sum(len(r) for r in feeder_transformers)
    hits = rng.random(n_tx) < transformer_rate_per_year / 365.0
    for tx in np.flatnonzero(hits):
        start = start0 + int(rng.integers(0, MINUTES_PER_DAY))
        duration = max(2, int(rng.lognormal(math.log(45), 0.7)))
        outages.append(Outage(start, start + duration, (int(tx),), "transformer fault"))
    feeder_hits = rng.random(len(feeder_transformers)) < feeder_rate_per_year / 365.0
    for feeder in np.flatnonzero(feeder_hits):
        start = start0 + int(rng.integers(0, MINUTES_PER_DAY))
        duration = max(1, int(rng.lognormal(math.log(25), 0.6)))
        txs = tuple(feeder_transformers[int(feeder)])
        outages.append(Outage(start, start + duration, txs, "feeder fault"))
    return outages


# --------------------------------------------------------------------------- voltage

NOMINAL_100V = 101.0  # target at the customer terminals, 101 ± 6 V
NOMINAL_200V = 202.0  # 202 ± 20 V


def draw_transformer_taps(n_tx: int, rng: np.random.Generator) -> F32:
    """No-load secondary voltage of each pole transformer (V on the 100 V side).

    Taps are set so that the farthest customer stays above 95 V at peak: about 104 V,
    with a 0.5 % tail of badly set taps that cause the rare excursions.
    """
    taps = rng.normal(104.0, 0.8, n_tx)
    bad = rng.random(n_tx) < 0.005
    taps[bad] += rng.choice([-4.5, 4.0], int(bad.sum()))
    return taps.astype(np.float32)


def transformer_voltage(tap_v: F32, load_w: F32, capacity_w: F32) -> F32:
    """Secondary voltage (100 V side) from tap and loading: 5 V drop at rated load.

    Negative load (reverse flow from PV) raises the voltage.
    """
    return tap_v - np.float32(5.0) * load_w / capacity_w


def service_drop(net_w: F32, three_phase: npt.NDArray[np.bool_]) -> F32:
    """Voltage drop (V) in the service wire: 0.05 Ω per leg at the 100 V-basis current."""
    return np.float32(0.05) * net_w / np.where(three_phase, np.float32(400.0), np.float32(200.0))


def volt_rise_per_watt(capacity_w: F32, three_phase: npt.NDArray[np.bool_]) -> F32:
    """Voltage (100 V basis) one more watt of a meter's export adds at its own terminals:
    the transformer's share (:func:`transformer_voltage`) plus its service drop."""
    ones = np.ones_like(capacity_w, dtype=np.float32)
    return (transformer_voltage(np.zeros_like(ones), -ones, capacity_w)
            - service_drop(-ones, three_phase)).astype(np.float32)
