"""The meter's COSEM object model (IEC 62056-6-2), backed live by a ``smame.meter.Meter``."""

from smame.dlms.cosem.base import (
    Access,
    AttributeDef,
    Context,
    CosemError,
    CosemObject,
    MethodDef,
    Model,
    Role,
    Selection,
)
from smame.dlms.cosem.model import build_model

__all__ = [
    "Access",
    "AttributeDef",
    "Context",
    "CosemError",
    "CosemObject",
    "MethodDef",
    "Model",
    "Role",
    "Selection",
    "build_model",
]
