"""The head-end's meter registry: where each meter listens and which cell it is behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from smame.hes.session import Endpoint

__all__ = ["MANIFEST_FORMAT", "Registry", "RegistryError"]

MANIFEST_FORMAT = "smame-meter-manifest/1"


class RegistryError(ValueError):
    """A manifest or registry entry that cannot be used."""


class Registry:
    """Meter endpoints by meter id, with the concentrator or cell each one is behind."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self._by_id = {e.meter_id: e for e in endpoints}
        if len(self._by_id) != len(endpoints):
            raise RegistryError("a meter id appears twice in the registry")

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, meter_id: object) -> bool:
        return meter_id in self._by_id

    def get(self, meter_id: int) -> Endpoint:
        try:
            return self._by_id[int(meter_id)]
        except KeyError:
            raise RegistryError(f"meter {meter_id} is not in the registry") from None

    def meter_ids(self) -> list[int]:
        return sorted(self._by_id)

    def cell_of(self, meter_id: int) -> str:
        return self.get(meter_id).cell

    def move(self, meter_id: int, host: str, port: int) -> None:
        """A meter answers at a new address (a replaced communication unit)."""
        self._by_id[int(meter_id)] = replace(self.get(meter_id), host=host, port=port)

    @classmethod
    def from_manifest(cls, path: Path, meters_per_cell: int = 100) -> Registry:
        """Read the manifest ``smame meter serve --manifest`` writes.

        Meters are grouped into cells of ``meters_per_cell`` in manifest order, standing in
        for the concentrators a field network would have, unless an entry names its cell.
        """
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path}: cannot read the manifest: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise RegistryError(f"{path}: not a {MANIFEST_FORMAT} manifest")
        endpoints = []
        for k, entry in enumerate(manifest.get("meters", [])):
            try:
                endpoints.append(Endpoint(
                    meter_id=int(entry["meter_id"]), host=str(entry["host"]),
                    port=int(entry["port"]), server_sap=int(entry.get("server_sap", 1)),
                    cell=str(entry.get("cell", f"cell-{k // meters_per_cell:04d}")),
                    unit_exponent=int(entry.get("unit_exponent", -2))))
            except (KeyError, TypeError, ValueError) as exc:
                raise RegistryError(f"{path}: meter entry {k} is incomplete: {exc}") from None
        if not endpoints:
            raise RegistryError(f"{path}: the manifest lists no meters")
        return cls(endpoints)
