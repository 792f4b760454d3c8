"""Signed checkpoints of the audit log, to anchor it outside the system (SPEC S14).

The head file and every entry are MACed under the audit key, but whoever holds that key
(anyone with the server's files) can rewrite the whole log, and anyone can put back a head
file saved earlier after cutting entries off. A checkpoint states "entry ``seq`` had hash
``hash`` at ``time``", signed with Ed25519 under a checkpoint key: exported to somewhere
the system cannot write (an auditor's archive, WORM storage, a ticket), it later proves
that the log still holds that entry unchanged — truncation or rewriting after it shows.
The public key is in each checkpoint and in ``checkpoint.pub``; its fingerprint is what an
auditor records once, to know that later checkpoints come from the same system.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smame.store.private import check_key_file, create_private_file, private_dir

__all__ = ["CHECKPOINT_TYPE", "Checkpoint", "CheckpointError", "CheckpointSigner",
           "read_checkpoint"]

CHECKPOINT_TYPE = "smame-audit-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or whose signature does not hold."""


def _signed_bytes(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(public_key: bytes) -> str:
    """SHA-256 of a raw Ed25519 public key, hex: what an auditor records once."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """Entry ``seq`` of the audit log had ``hash`` when the checkpoint was signed."""

    seq: int
    hash: str
    time: str
    public_key: str  # raw Ed25519 public key, hex
    signature: str  # over the other fields, hex

    def fields(self) -> dict[str, Any]:
        return {"type": CHECKPOINT_TYPE, "seq": self.seq, "hash": self.hash,
                "time": self.time, "public_key": self.public_key}

    def document(self) -> str:
        return json.dumps({**self.fields(), "signature": self.signature}, indent=1) + "\n"

    def check_signature(self) -> None:
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(bytes.fromhex(self.signature), _signed_bytes(self.fields()))
        except (ValueError, InvalidSignature):
            raise CheckpointError("the checkpoint's signature does not hold (edited, or not "
                                  "made by the checkpoint key it names)") from None


def read_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint file, with its signature checked."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise CheckpointError(f"{path} is not a checkpoint (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("type") != CHECKPOINT_TYPE:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_TYPE} document")
    try:
        checkpoint = Checkpoint(int(doc["seq"]), str(doc["hash"]), str(doc["time"]),
                                str(doc["public_key"]), str(doc["signature"]))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path} lacks seq, hash, time, public_key or signature"
                              ) from None
    checkpoint.check_signature()
    return checkpoint


class CheckpointSigner:
    """The Ed25519 checkpoint key at ``key_path`` (created 0600 if missing) and its public
    key beside it (``.pub``, raw hex)."""

    def __init__(self, key_path: Path) -> None:
        private_dir(key_path.parent)
        try:
            raw = key_path.read_bytes()
        except FileNotFoundError:
            raw = Ed25519PrivateKey.generate().private_bytes_raw()
            create_private_file(key_path, raw)
        check_key_file(key_path)
        if len(raw) != 32:
            raise CheckpointError(f"{key_path}: an Ed25519 key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(raw)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        pub = key_path.with_suffix(".pub")
        if not pub.exists():
            create_private_file(pub, self.public_key.hex().encode() + b"\n")

    def sign(self, seq: int, digest: str, at: float) -> Checkpoint:
        time = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
        unsigned = Checkpoint(seq, digest, time, self.public_key.hex(), "")
        signature = self._key.sign(_signed_bytes(unsigned.fields())).hex()
        return Checkpoint(seq, digest, time, unsigned.public_key, signature)
