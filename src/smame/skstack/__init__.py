"""SKSTACK IP Wi-SUN modules for the B-route (SPEC M8): an emulated BP35A1/BP35C2 on a pty
(sans-I/O core :mod:`~smame.skstack.module`) and the HEMS-side driver
(:mod:`~smame.skstack.client`)."""

from smame.skstack.client import Erxudp, Reader, SkstackError, SkstackLink, open_meter
from smame.skstack.link import NodeLink
from smame.skstack.models import BP35A1, BP35C2, MODELS, Model
from smame.skstack.module import Coordinator, MeterLink, WiSunModule, link_local
from smame.skstack.pty import PtyDongle
from smame.skstack.timing import Timing

__all__ = [
    "BP35A1",
    "BP35C2",
    "MODELS",
    "Coordinator",
    "Erxudp",
    "MeterLink",
    "Model",
    "NodeLink",
    "PtyDongle",
    "Reader",
    "SkstackError",
    "SkstackLink",
    "Timing",
    "WiSunModule",
    "link_local",
    "open_meter",
]
