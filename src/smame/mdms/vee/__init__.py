"""Validation, estimation and editing (VEE) of meter readings."""

from smame.mdms.vee.config import ChannelRules, VeeConfig, default_rules
from smame.mdms.vee.reasons import Action, Reason, reason_names

__all__ = ["Action", "ChannelRules", "Reason", "VeeConfig", "default_rules", "reason_names"]
