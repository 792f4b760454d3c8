"""The message bus between head-end shards and MDMS ingest: NATS JetStream (issue 13)."""

from smame.bus.publisher import BusPublisher, PublishError
from smame.bus.worker import IngestWorker, WorkerTotals

__all__ = ["BusPublisher", "IngestWorker", "PublishError", "WorkerTotals"]
