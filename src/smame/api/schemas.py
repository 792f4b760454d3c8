"""Request bodies and documented answers of the API (the OpenAPI document, SPEC S7)."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smame.api.roles import Category, Role
from smame.readings import Quantity

__all__ = [
    "CommandBody",
    "ConsentBody",
    "QuantityName",
]


class QuantityName(StrEnum):
    IMPORT = "import"  # forward active energy (正方向)
    EXPORT = "export"  # reverse active energy (逆方向)
    REACTIVE = "reactive"  # lagging reactive energy, 5-minute
    VOLTAGE = "voltage"  # voltage, 5-minute mean

    @property
    def quantity(self) -> Quantity:
        return {"import": Quantity.ACTIVE_IMPORT, "export": Quantity.ACTIVE_EXPORT,
                "reactive": Quantity.REACTIVE_IMPORT, "voltage": Quantity.VOLTAGE}[self.value]


class EnergyName(StrEnum):
    IMPORT = "import"
    EXPORT = "export"

    @property
    def quantity(self) -> Quantity:
        return Quantity.ACTIVE_IMPORT if self is EnergyName.IMPORT else Quantity.ACTIVE_EXPORT


class Minutes(IntEnum):
    FIVE = 5
    FIFTEEN = 15
    THIRTY = 30


class ExportFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TokenAnswer(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class WhoAmI(_Open):
    client_id: str
    role: str
    party: str | None
    scopes: list[str]


class ReadingTypeOut(_Open):
    mRID: str  # noqa: N815 - IEC 61968-9 names
    channel: int
    unit: str


class IntervalReadingOut(_Open):
    timeStamp: str  # noqa: N815 - IEC 61968-9 names
    value: int
    quality: int
    version: int


class IntervalBlockOut(_Open):
    ReadingType: ReadingTypeOut
    IntervalReadings: list[IntervalReadingOut]


class MeterReadingOut(_Open):
    Meter: dict[str, Any]
    UsagePoint: dict[str, Any] | None
    valuesInterval: dict[str, str]  # noqa: N815 - IEC 61968-9 names


class MeterReadingsOut(_Open):
    MeterReadings: list[MeterReadingOut]
    digits: int
    basis: str


class Listing(_Open):
    total: int
    offset: int
    items: list[dict[str, Any]]


class CommandOut(_Open):
    correlation_id: str
    kind: str
    meters: int
    status: str
    approval: dict[str, Any]
    summary: dict[str, int]


class ConsentOut(_Open):
    consent_id: str
    sp_id: str
    grantee: str
    categories: list[str]
    purpose: str
    effective: bool


MeterIds = Annotated[list[Annotated[int, Field(ge=1, le=2**62)]],
                     Field(max_length=100_000)]


class _Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meter_ids: MeterIds = Field(default_factory=list, description="Meters to command")
    feeder_ids: list[Annotated[int, Field(ge=0, le=2**31)]] = Field(
        default_factory=list, max_length=1000, description="Every meter on these feeders")
    transformer_ids: list[Annotated[int, Field(ge=0, le=2**31)]] = Field(
        default_factory=list, max_length=10_000,
        description="Every meter on these transformers")


class SetLimit(_Targets):
    kind: Literal["set_limit"]
    amps: Annotated[int, Field(ge=10, le=60, description="New contract limit, A")]


class ReserveLimit(_Targets):
    kind: Literal["reserve_limit"]
    amps: Annotated[int, Field(ge=10, le=60)]
    at: datetime = Field(description="When the meters change their limit: a future whole "
                                     "minute, ISO 8601 with a UTC offset")

    @field_validator("at")
    @classmethod
    def _whole_minute(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("at needs a UTC offset")
        if value.second or value.microsecond:
            raise ValueError("reservations are made for whole minutes")
        try:
            value.timestamp()
        except (OverflowError, OSError, ValueError):
            raise ValueError("at is out of range") from None
        return value


class ListReservations(_Targets):
    kind: Literal["list_reservations"]


class CancelReservation(_Targets):
    kind: Literal["cancel_reservation"]
    reservation_id: Annotated[int, Field(ge=1, le=2**31)]


class Disconnect(_Targets):
    kind: Literal["disconnect"]


class Reconnect(_Targets):
    kind: Literal["reconnect"]


class ResetBreaker(_Targets):
    kind: Literal["reset_breaker"]


class SoftSwitch(_Targets):
    kind: Literal["soft_switch"]
    minutes: Literal[15, 30] = Field(description="Transmission interval (M4, S10)")


class ClockSync(_Targets):
    kind: Literal["clock_sync"]


CommandBody = Annotated[
    SetLimit | ReserveLimit | ListReservations | CancelReservation | Disconnect | Reconnect
    | ResetBreaker | SoftSwitch | ClockSync, Field(discriminator="kind")]


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sp_id: Annotated[str, Field(pattern=r"^(0[1-9]|10)\d{20}$",
                                description="22-digit 供給地点特定番号")]
    grantee: Annotated[str, Field(min_length=1, max_length=64,
                                  pattern=r"^[A-Za-z0-9._-]+$",
                                  description="Party id of the third party")]
    categories: Annotated[list[Category], Field(min_length=1, max_length=10)]
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    data_from: date
    data_to: date | None = None
    expires_at: datetime | None = None
    customer_ref: Annotated[str | None, Field(max_length=100)] = None
    customer_id: Annotated[str | None, Field(
        min_length=1, max_length=64, description="The customer who consented, as the "
        "registry's tenancy names them; checked against the current tenant")] = None

    @field_validator("data_from", "data_to")
    @classmethod
    def _reasonable(cls, value: date | None) -> date | None:
        if value is not None and not date(2000, 1, 1) <= value <= date(2200, 1, 1):
            raise ValueError("dates must lie between 2000 and 2200")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None:
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("expires_at needs a UTC offset")
            try:
                value.timestamp()
            except (OverflowError, OSError, ValueError):
                raise ValueError("expires_at is out of range") from None
        return value


class ClientBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role
    party: Annotated[str | None, Field(min_length=1, max_length=64,
                                       pattern=r"^[A-Za-z0-9._-]+$")] = None
