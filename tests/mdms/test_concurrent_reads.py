"""The store's catalog questions from API threads while another thread ingests."""

from __future__ import annotations

import threading
from datetime import timedelta

from smame.mdms import Mdms
from tests.mdms.helpers import DAY, day_batch, flat_day


def test_catalog_reads_beside_an_ingest_never_find_the_connection_busy(mdms: Mdms) -> None:
    """``days``, ``stored_bytes`` and row-group reads take their own cursor: the writer's
    connection, busy with a commit, is never shared (DuckDB refuses it: "connection is
    busy with another call")."""
    store = mdms.store
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                store.days()
                store.stored_bytes()
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=ask) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for k in range(12):
            mdms.ingest(day_batch(flat_day(20 + k, meters=50), day=DAY + timedelta(days=k)))
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert store.days()[-1] == DAY + timedelta(days=11)
