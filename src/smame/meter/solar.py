"""Sun position and irradiance on a tilted PV panel, as small pure functions.

The geometry and the models are the textbook ones that pvlib implements (Spencer's
declination and equation of time, Haurwitz clear sky, Erbs decomposition, isotropic-sky
transposition); see docs/profiles.md for the sources. Angles are radians unless a name
says ``_deg``; irradiance is W/m²; time is UTC epoch minutes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from smame.clock import JST_OFFSET_S

F64 = npt.NDArray[np.float64]

SOLAR_CONSTANT_W_M2 = 1367.0
GROUND_ALBEDO = 0.2  # built-up ground (NEDO's default for METPV transposition)


def day_angle(day_of_year: F64 | float) -> F64:
    """Spencer's day angle Γ = 2π (n − 1) / 365 for day of year n (1 = 1 January)."""
    return 2.0 * np.pi * (np.asarray(day_of_year, np.float64) - 1.0) / 365.0


def declination(day_of_year: F64 | float) -> F64:
    """Solar declination (Spencer 1971, Fourier series), radians."""
    g = day_angle(day_of_year)
    return (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))


def equation_of_time_minutes(day_of_year: F64 | float) -> F64:
    """Apparent minus mean solar time (Spencer 1971), minutes."""
    g = day_angle(day_of_year)
    return 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
                     - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g))


def extraterrestrial_normal(day_of_year: F64 | float) -> F64:
    """Irradiance at the top of the atmosphere on a plane facing the sun, W/m²."""
    return SOLAR_CONSTANT_W_M2 * (1.0 + 0.033 * np.cos(day_angle(day_of_year) + 2 * np.pi / 365))


def sun_position(minute: npt.NDArray[np.int64], latitude_deg: float,
                 longitude_deg: float) -> tuple[F64, F64, F64]:
    """(cos zenith, sin zenith, azimuth) of the sun for UTC epoch minutes.

    Azimuth is measured from south, positive towards west (the convention of the panel
    azimuths below). Below the horizon cos zenith is negative.
    """
    minute = np.asarray(minute, np.int64)
    local = minute + JST_OFFSET_S // 60
    day_number = local // 1440
    day_of_year = (day_number - _days_before_year(day_number)) + 1.0
    # True solar time from JST (135° E meridian), the longitude and the equation of time.
    solar_minutes = (local % 1440) + 4.0 * (longitude_deg - 135.0) + equation_of_time_minutes(
        day_of_year)
    hour_angle = np.radians((solar_minutes - 720.0) * 0.25)
    dec = declination(day_of_year)
    lat = math.radians(latitude_deg)
    cos_z = math.sin(lat) * np.sin(dec) + math.cos(lat) * np.cos(dec) * np.cos(hour_angle)
    sin_z = np.sqrt(np.maximum(0.0, 1.0 - cos_z**2))
    azimuth = np.arctan2(np.sin(hour_angle),
                         np.cos(hour_angle) * math.sin(lat) - np.tan(dec) * math.cos(lat))
    return cos_z, sin_z, azimuth


def _days_before_year(day_number: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Epoch day of 1 January of the (proleptic Gregorian) year holding each epoch day."""
    days = np.asarray(day_number, "datetime64[D]")
    return days.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def clear_sky_ghi(cos_zenith: F64) -> F64:
    """Global horizontal irradiance under a clear sky (Haurwitz 1945), W/m²."""
    up = np.maximum(cos_zenith, 1e-6)
    return np.where(cos_zenith > 0.0, 1098.0 * up * np.exp(-0.059 / up), 0.0)


def erbs_diffuse_fraction(clearness_index: F64) -> F64:
    """Share of global horizontal irradiance that is diffuse (Erbs et al. 1982)."""
    kt = np.asarray(clearness_index, np.float64)
    middle = 0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4
    return np.where(kt <= 0.22, 1.0 - 0.09 * kt, np.where(kt <= 0.80, middle, 0.165))


def cos_incidence(cos_zenith: F64, sin_zenith: F64, sun_azimuth: F64, tilt: float,
                  panel_azimuth: float) -> F64:
    """Cosine of the angle between the sun and a panel's normal (0 when behind it)."""
    cos_aoi = (cos_zenith * math.cos(tilt)
               + sin_zenith * math.sin(tilt) * np.cos(sun_azimuth - panel_azimuth))
    return np.maximum(cos_aoi, 0.0)


def sky_view(tilt: float) -> float:
    """Share of the isotropic sky a panel tilted by ``tilt`` sees: (1 + cos β) / 2."""
    return (1.0 + math.cos(tilt)) / 2.0


def ground_view(tilt: float, albedo: float = GROUND_ALBEDO) -> float:
    """Share of global horizontal irradiance reflected onto the panel: ρ (1 − cos β) / 2."""
    return albedo * (1.0 - math.cos(tilt)) / 2.0
