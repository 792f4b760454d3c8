"""The standard-client example of docs/hes.md runs as written against a meter served over
TCP (only the port differs): public association, learned counter, ciphered session."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from dlms_cosem.time import datetime_from_bytes

from tests.dlms.support import value
from tests.dlms.test_dlms_tcp import in_thread, serving

HES_DOC = Path(__file__).parents[2] / "docs" / "hes.md"


def dlms_cosem_example() -> str:
    section = HES_DOC.read_text().split("### With any DLMS client", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_dlms_cosem_example_runs(endpoint, meter):
    example = dlms_cosem_example()
    assert example.count("port=4059") == 2

    def run(port: int) -> dict:
        names: dict = {}
        exec(example.replace("port=4059", f"port={port}"), names)
        return names

    names = asyncio.run(serving(endpoint, lambda port: in_thread(run, port)))
    assert names["counter"] == 0  # the first management session of this meter
    assert endpoint.security.client_counter > 0  # the session counted up from there
    assert int(datetime_from_bytes(bytes(value(names["clock"])))[0].timestamp()) == meter.time
    assert value(names["energy"]) == meter.import_register
