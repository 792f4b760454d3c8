"""The readings stream on NATS JetStream: its subjects, its configuration, its consumers.

Head-end shards publish reading batches to ``readings.<mdms-shard>``; the stream
``READINGS`` keeps them on disk until the shard's ingest workers acknowledge them (a work
queue: a message acknowledged after its MDMS commit is gone from the bus). Each MDMS shard
has one durable pull consumer, ``ingest-<shard>``, that all of that shard's workers share.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

__all__ = ["DUPLICATE_WINDOW_S", "STREAM", "consumer_config", "durable_name",
           "ensure_stream", "shard_subject"]

STREAM = "READINGS"
SUBJECT_PREFIX = "readings"
DUPLICATE_WINDOW_S = 2 * 3600.0
"""How long the bus remembers a message id: a publisher's retry within it is stored once."""


def shard_subject(shard: int) -> str:
    return f"{SUBJECT_PREFIX}.{shard:03d}"


def durable_name(shard: int) -> str:
    return f"ingest-{shard:03d}"


def stream_config() -> StreamConfig:
    return StreamConfig(
        name=STREAM, subjects=[f"{SUBJECT_PREFIX}.*"], retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE, discard=DiscardPolicy.NEW,
        duplicate_window=DUPLICATE_WINDOW_S, max_msg_size=-1)


def consumer_config(shard: int, max_ack_pending: int, ack_wait_s: float) -> ConsumerConfig:
    """The shard's durable pull consumer: explicit acks, at most ``max_ack_pending``
    messages out unacknowledged (backpressure), redelivery after ``ack_wait_s``."""
    return ConsumerConfig(
        durable_name=durable_name(shard), filter_subject=shard_subject(shard),
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s, max_ack_pending=max_ack_pending, max_deliver=-1)


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the readings stream unless it exists (its stored messages are kept)."""
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(stream_config())
