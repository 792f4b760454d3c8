"""The meter data management system: ingest, VEE, versioned measurements, settlement,
retention, sub-meters and joint metering (SPEC S1, S4, S5, S10, S12, S13)."""

from smame.mdms.files import FileFormatError, read_reading_file
from smame.mdms.seed import ingest_simulation, seed_registry
from smame.mdms.service import IngestResult, Mdms
from smame.mdms.sink import MdmsSink
from smame.mdms.vee import Action, ChannelRules, Reason, VeeConfig

__all__ = [
    "Action",
    "ChannelRules",
    "FileFormatError",
    "IngestResult",
    "Mdms",
    "MdmsSink",
    "Reason",
    "VeeConfig",
    "ingest_simulation",
    "read_reading_file",
    "seed_registry",
]
