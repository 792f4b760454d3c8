"""Roles, OAuth2 scopes and data categories of the data-provision API (SPEC S6, S7, S14).

Every client is one operator organisation's credential with exactly one :class:`Role`.
A role fixes the scopes a token may carry (:data:`ROLE_SCOPES`); row-level rules — which
service points, for which period, with how many digits — live in :mod:`smame.api.policy`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CONSENT_CATEGORIES",
    "PARTY_ROLES",
    "ROLE_SCOPES",
    "THIRD_PARTY_ROLES",
    "Category",
    "Role",
    "Scope",
    "role_scopes",
]


class Role(StrEnum):
    """Who an API client is (SPEC S6)."""

    DISTRIBUTION = "distribution"  # 一般送配電事業者: the grid operator, sees 8 digits
    RETAILER = "retailer"  # 小売電気事業者: its supplied service points, 6 digits (S4)
    AGGREGATOR = "aggregator"  # third party: customer consent required
    ENERGY_MANAGEMENT = "energy_management"  # third party (エネルギーマネジメント事業者)
    GAS = "gas"  # gas company: its own joint-metering meters (S13)
    WATER = "water"  # water company: its own joint-metering meters (S13)
    DATA_ASSOCIATION = "data_association"  # 認定協会: records consents; reads under consent
    AUDITOR = "auditor"  # reads the audit log and the command history, no customer data
    ADMIN = "admin"  # manages clients, reads the audit log, no customer data


THIRD_PARTY_ROLES = frozenset({Role.AGGREGATOR, Role.ENERGY_MANAGEMENT, Role.DATA_ASSOCIATION})
"""Roles that see a customer's data only under that customer's recorded consent."""

PARTY_ROLES = frozenset({Role.RETAILER, Role.AGGREGATOR, Role.ENERGY_MANAGEMENT, Role.GAS,
                         Role.WATER, Role.DATA_ASSOCIATION})
"""Roles whose clients must name their organisation (retailer id, company id, party id)."""


class Scope(StrEnum):
    """OAuth2 scopes a token can carry."""

    METERS_READ = "meters:read"
    READINGS_READ = "readings:read"
    EVENTS_READ = "events:read"
    SETTLEMENT_READ = "settlement:read"
    JOINT_READ = "joint:read"
    SUBMETER_READ = "submeter:read"
    EXPORT = "export"
    INSTANTANEOUS = "instantaneous"
    FLEET_READ = "fleet:read"
    STATISTICS_READ = "statistics:read"
    COMMANDS_READ = "commands:read"
    COMMANDS_WRITE = "commands:write"
    COMMANDS_APPROVE = "commands:approve"
    CONSENTS_READ = "consents:read"
    CONSENTS_WRITE = "consents:write"
    AUDIT_READ = "audit:read"
    CLIENTS_ADMIN = "clients:admin"


_S = Scope
_THIRD_PARTY = frozenset({_S.METERS_READ, _S.READINGS_READ, _S.EVENTS_READ, _S.EXPORT,
                          _S.INSTANTANEOUS, _S.CONSENTS_READ, _S.STATISTICS_READ})
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.DISTRIBUTION: frozenset({
        _S.METERS_READ, _S.READINGS_READ, _S.EVENTS_READ, _S.SETTLEMENT_READ, _S.JOINT_READ,
        _S.SUBMETER_READ, _S.EXPORT, _S.INSTANTANEOUS, _S.FLEET_READ, _S.COMMANDS_READ,
        _S.COMMANDS_WRITE, _S.COMMANDS_APPROVE, _S.STATISTICS_READ}),
    Role.RETAILER: frozenset({_S.METERS_READ, _S.READINGS_READ, _S.EVENTS_READ,
                              _S.SETTLEMENT_READ, _S.EXPORT, _S.INSTANTANEOUS,
                              _S.STATISTICS_READ}),
    Role.AGGREGATOR: _THIRD_PARTY,
    Role.ENERGY_MANAGEMENT: _THIRD_PARTY,
    Role.DATA_ASSOCIATION: _THIRD_PARTY | {_S.CONSENTS_WRITE},
    Role.GAS: frozenset({_S.METERS_READ, _S.READINGS_READ, _S.JOINT_READ}),
    Role.WATER: frozenset({_S.METERS_READ, _S.READINGS_READ, _S.JOINT_READ}),
    Role.AUDITOR: frozenset({_S.AUDIT_READ, _S.COMMANDS_READ, _S.CONSENTS_READ}),
    Role.ADMIN: frozenset({_S.AUDIT_READ, _S.CLIENTS_ADMIN}),
}
"""The scopes each role may be granted; a token request may narrow them, never widen."""


def role_scopes(role: Role) -> frozenset[Scope]:
    return ROLE_SCOPES[Role(role)]


class Category(StrEnum):
    """Kinds of a customer's data a consent can cover (SPEC S6)."""

    ENERGY = "energy"  # 30- and 15-minute active energy, import and export
    ENERGY_5MIN = "energy_5min"  # 5-minute active energy
    REACTIVE = "reactive"  # 5-minute reactive energy
    VOLTAGE = "voltage"  # 5-minute voltage
    REGISTERS = "registers"  # register readings (6 digits for third parties)
    EVENTS = "events"  # outage and restoration events
    INSTANTANEOUS = "instantaneous"  # on-demand instantaneous values (S2)


CONSENT_CATEGORIES = tuple(c.value for c in Category)
