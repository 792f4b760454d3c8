"""Prometheus metrics of every smame process (issue 13 item 7).

One set of metrics in the default ``prometheus_client`` registry: a head-end shard counts
what it publishes, an ingest worker what it takes from the bus and commits, the API its
request latency. Each process exposes them on ``/metrics``: the API on its own port (route
``smame.api.routes.metrics``), workers and head-end shards on ``--metrics-port``
(:func:`serve_metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "API_REQUEST_SECONDS",
    "BUS_CONSUMER_PENDING",
    "BUS_POISON_MESSAGES",
    "BUS_PUBLISHED_BATCHES",
    "BUS_PUBLISHED_READINGS",
    "BUS_PUBLISH_DUPLICATES",
    "BUS_PUBLISH_RETRIES",
    "BUS_REDELIVERIES",
    "INGEST_BATCHES",
    "INGEST_FAILURES",
    "INGEST_READINGS",
    "INGEST_SECONDS",
    "VEE_OUTCOMES",
    "serve_metrics",
]

BUS_PUBLISHED_BATCHES = Counter(
    "smame_bus_published_batches", "Messages (reading batches) the bus acknowledged storing",
    ["shard"])
BUS_PUBLISHED_READINGS = Counter(
    "smame_bus_published_readings", "Readings in messages the bus acknowledged storing",
    ["shard"])
BUS_PUBLISH_DUPLICATES = Counter(
    "smame_bus_publish_duplicates",
    "Messages the bus had already stored (same message id: a publisher's retry)", ["shard"])
BUS_PUBLISH_RETRIES = Counter(
    "smame_bus_publish_retries", "Publishes retried because the bus did not acknowledge in time")
BUS_CONSUMER_PENDING = Gauge(
    "smame_bus_consumer_pending",
    "Consumer lag: messages in the stream not yet delivered to the shard's ingest workers",
    ["shard"])
BUS_REDELIVERIES = Counter(
    "smame_bus_redeliveries", "Messages delivered again (not acknowledged in time before)",
    ["shard"])
BUS_POISON_MESSAGES = Counter(
    "smame_bus_poison_messages", "Messages terminated because they are not reading batches",
    ["shard", "reason"])
INGEST_BATCHES = Counter(
    "smame_ingest_batches", "Messages committed to the MDMS and acknowledged", ["shard"])
INGEST_READINGS = Counter(
    "smame_ingest_readings",
    "Readings taken from the bus by outcome: stored, or unchanged (already held)",
    ["shard", "outcome"])
INGEST_FAILURES = Counter(
    "smame_ingest_failures", "Ingests that failed and were left to the bus to deliver again",
    ["shard"])
INGEST_SECONDS = Histogram(
    "smame_ingest_seconds", "Time of one MDMS ingest (decode to commit) of fetched messages",
    ["shard"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
VEE_OUTCOMES = Counter(
    "smame_vee_outcomes", "Readings validated at ingest by outcome: passed, or suspect",
    ["outcome"])
API_REQUEST_SECONDS = Histogram(
    "smame_api_request_seconds", "API request latency, to the end of the answer",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` over HTTP on ``host:port`` in a thread (port 0: a free one);
    return the port."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
