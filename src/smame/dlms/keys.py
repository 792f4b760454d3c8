"""Per-meter key files for ``smame meter serve --keys`` (SPEC S14).

JSON::

    {"meters": {"100000001": {"encryption_key": "<32 hex>", "authentication_key": "<32 hex>"},
                ...}}

or a JSON list of objects with ``meter_id``, ``encryption_key``, ``authentication_key``.
CSV: a header row ``meter_id,encryption_key,authentication_key`` and one row per meter.
Keys are AES-128, written as 32 hexadecimal digits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from smame.dlms.security import MeterKeys

__all__ = ["KeyFileError", "load_keys"]

FIELDS = ("meter_id", "encryption_key", "authentication_key")


class KeyFileError(ValueError):
    """A key file that cannot be read or lacks a meter."""


def _entry(row: dict, where: str) -> tuple[int, MeterKeys]:
    try:
        meter_id = int(str(row["meter_id"]).strip())
        keys = MeterKeys.from_hex(str(row["encryption_key"]).strip(),
                                  str(row["authentication_key"]).strip())
    except KeyError as exc:
        raise KeyFileError(f"{where}: missing {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise KeyFileError(f"{where}: {exc}") from None
    return meter_id, keys


def load_keys(path: Path | str, meter_ids: list[int] | None = None) -> dict[int, MeterKeys]:
    """Keys by meter id. With ``meter_ids``, every one of them must have keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"cannot read {path}: not UTF-8 text") from None
    rows: list[tuple[dict, str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or not set(FIELDS) <= set(reader.fieldnames):
            raise KeyFileError(f"{path}: the CSV header must name {', '.join(FIELDS)}")
        rows = [(row, f"{path}:{n + 2}") for n, row in enumerate(reader)]
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(document, dict) and isinstance(document.get("meters"), dict):
            rows = [({"meter_id": k, **v} if isinstance(v, dict) else {}, f"{path}: meter {k}")
                    for k, v in document["meters"].items()]
        elif isinstance(document, list):
            rows = [(r if isinstance(r, dict) else {}, f"{path}: entry {n}")
                    for n, r in enumerate(document)]
        else:
            raise KeyFileError(f"{path}: expected {{'meters': {{id: keys}}}} or a list")
    keys = dict(_entry(row, where) for row, where in rows)
    missing = [m for m in meter_ids or [] if m not in keys]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise KeyFileError(f"{path}: no keys for meter {', '.join(map(str, missing[:3]))}{more}")
    return keys
