"""Security suite 0 for the management client (SPEC S14): AES-GCM-128 keys, system titles,
invocation counters, ciphered-APDU framing and the HLS-GMAC (mechanism 5) proofs.

Every APDU is authenticated and encrypted (security control 0x30) with the meter's
global unicast encryption key; the authentication key enters the additional data. The
AES-GCM itself is ``dlms_cosem.security`` (over the ``cryptography`` package).

Invocation counters: the meter's own counter only goes up, across associations and
pushes, so no nonce repeats under a key. From the management client the meter accepts
only counters greater than the last one it accepted: a replayed or reordered APDU is
refused (:class:`ReplayError`) even when it deciphers correctly.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from dlms_cosem import security as dlms_security
from dlms_cosem.exceptions import CryptographyError

from smame.dlms import axdr

__all__ = [
    "DEMO_KEYS",
    "GENERAL_GLO_CIPHERING",
    "GLO_RESPONSE_TAG",
    "SC_AUTHENTICATED",
    "SC_AUTHENTICATED_ENCRYPTED",
    "AuthenticationError",
    "CipheredApdu",
    "MeterKeys",
    "MeterSecurity",
    "ReplayError",
    "SecurityError",
    "encode_ciphered",
    "meter_id_of",
    "parse_ciphered",
    "system_title_of",
]

SC_AUTHENTICATED_ENCRYPTED = 0x30  # suite 0, authenticated, encrypted, unicast key
SC_AUTHENTICATED = 0x10  # suite 0, authenticated only (HLS-GMAC proofs)
MAX_INVOCATION_COUNTER = 0xFFFFFFFF
MANUFACTURER_ID = b"SMM"
"""Three-letter manufacturer id in system titles and logical device names."""

GENERAL_GLO_CIPHERING = 219
GLO_RESPONSE_TAG = {200: 204, 201: 205, 203: 207}
"""glo-get/set/action-request tag → the matching glo-…-response tag."""


class SecurityError(Exception):
    """Protection could not be applied or checked."""


class AuthenticationError(SecurityError):
    """An APDU or HLS proof did not authenticate with the meter's keys."""


class ReplayError(SecurityError):
    """An authentic APDU whose invocation counter is not above the last one accepted."""

    def __init__(self, received: int, last: int) -> None:
        super().__init__(f"invocation counter {received} is not above {last}")
        self.received = received
        self.last = last


@dataclass(frozen=True)
class MeterKeys:
    """A meter's global unicast encryption key and authentication key (16 octets each).

    The keys never appear in a ``repr``, so they cannot reach a log by accident (S14).
    """

    encryption_key: bytes = field(repr=False)
    authentication_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("encryption_key", "authentication_key"):
            if len(getattr(self, name)) != 16:
                raise ValueError(f"{name} must be 16 octets (AES-128)")

    @classmethod
    def from_hex(cls, encryption_key: str, authentication_key: str) -> MeterKeys:
        try:
            return cls(bytes.fromhex(encryption_key), bytes.fromhex(authentication_key))
        except ValueError as exc:
            raise ValueError(f"bad key: {exc}") from None


DEMO_KEYS = MeterKeys.from_hex("000102030405060708090A0B0C0D0E0F",
                               "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
"""The Green Book example keys, for demos (every meter gets the same keys)."""


def system_title_of(meter_id: int) -> bytes:
    """8-octet system title: manufacturer id ``SMM`` and the meter id in 5 octets."""
    return MANUFACTURER_ID + int(meter_id).to_bytes(5, "big")


def meter_id_of(system_title: bytes) -> int:
    """Meter id in a system title made by :func:`system_title_of`."""
    if len(system_title) != 8 or system_title[:3] != MANUFACTURER_ID:
        raise ValueError(f"{system_title.hex()} is not a smame meter system title")
    return int.from_bytes(system_title[3:], "big")


def _control(byte: int) -> dlms_security.SecurityControlField:
    return dlms_security.SecurityControlField.from_bytes(bytes((byte,)))


@dataclass(frozen=True)
class CipheredApdu:
    """general-glo-ciphering (tag 219, with a system title) or a service-specific
    glo-… APDU (tags 200–207, without)."""

    tag: int
    system_title: bytes | None
    security_control: int
    invocation_counter: int
    ciphertext: bytes  # ciphered text followed by the 12-octet tag


def parse_ciphered(apdu: bytes) -> CipheredApdu:
    """Decode a ciphered APDU strictly; raises :class:`axdr.AxdrError` if malformed."""
    if not apdu:
        raise axdr.AxdrError("empty APDU")
    tag, offset = apdu[0], 1
    system_title = None
    if tag == GENERAL_GLO_CIPHERING:
        size, offset = axdr.decode_length(apdu, offset)
        if offset + size > len(apdu):
            raise axdr.AxdrError("system title cut short")
        system_title = bytes(apdu[offset:offset + size])
        offset += size
    elif tag not in GLO_RESPONSE_TAG and tag not in GLO_RESPONSE_TAG.values():
        raise axdr.AxdrError(f"tag {tag} is not a ciphered APDU")
    size, offset = axdr.decode_length(apdu, offset)
    if offset + size != len(apdu):
        raise axdr.AxdrError("ciphered content length does not match the APDU")
    if size < 5 + dlms_security.TAG_LENGTH:
        raise axdr.AxdrError("ciphered content too short")
    content = apdu[offset:]
    return CipheredApdu(tag, system_title, content[0], int.from_bytes(content[1:5], "big"),
                        bytes(content[5:]))


def encode_ciphered(tag: int, system_title: bytes | None, security_control: int,
                    invocation_counter: int, ciphertext: bytes) -> bytes:
    """Encode a ciphered APDU (A-XDR lengths, so content of any size)."""
    content = bytes((security_control,)) + invocation_counter.to_bytes(4, "big") + ciphertext
    head = bytes((tag,))
    if tag == GENERAL_GLO_CIPHERING:
        head += axdr.encode_length(len(system_title or b"")) + (system_title or b"")
    return head + axdr.encode_length(len(content)) + content


class MeterSecurity:
    """The meter's security context for its management client (one per meter, shared by
    all its connections)."""

    def __init__(self, keys: MeterKeys, system_title: bytes, invocation_counter: int = 1):
        if len(system_title) != 8:
            raise ValueError("a system title has 8 octets")
        if not 0 <= invocation_counter <= MAX_INVOCATION_COUNTER:
            raise ValueError("invocation counter outside 0..2^32-1")
        self.keys = keys
        self.system_title = system_title
        self.invocation_counter = invocation_counter
        """The next counter the meter will use."""
        self.client_counter = -1
        """The last counter accepted from the management client (-1: none yet)."""

    # -------------------------------------------------------------- counters

    def next_invocation_counter(self) -> int:
        ic = self.invocation_counter
        if ic > MAX_INVOCATION_COUNTER:
            raise SecurityError("the meter's invocation counter is exhausted: renew the keys")
        self.invocation_counter = ic + 1
        return ic

    def accept_client_counter(self, invocation_counter: int) -> None:
        """Record an authentic client counter; raises :class:`ReplayError` if not fresh."""
        if invocation_counter <= self.client_counter:
            raise ReplayError(invocation_counter, self.client_counter)
        self.client_counter = invocation_counter

    # -------------------------------------------------------------- ciphering

    def protect(self, plain: bytes) -> tuple[int, bytes]:
        """Cipher ``plain`` with the meter's title; returns (invocation counter, text+tag)."""
        ic = self.next_invocation_counter()
        return ic, dlms_security.encrypt(
            _control(SC_AUTHENTICATED_ENCRYPTED), self.system_title, ic,
            self.keys.encryption_key, plain, self.keys.authentication_key)

    def unprotect(self, apdu: CipheredApdu, client_system_title: bytes) -> bytes:
        """Decipher and authenticate a client APDU; does not check the counter."""
        if apdu.security_control != SC_AUTHENTICATED_ENCRYPTED:
            raise AuthenticationError(
                f"security control 0x{apdu.security_control:02x}: policy needs 0x30")
        return self.decipher(client_system_title, apdu.invocation_counter, apdu.ciphertext)

    def decipher(self, client_system_title: bytes, invocation_counter: int,
                 ciphertext: bytes) -> bytes:
        if len(client_system_title) != 8:
            raise AuthenticationError("client system title must have 8 octets")
        try:
            return bytes(dlms_security.decrypt(
                _control(SC_AUTHENTICATED_ENCRYPTED), client_system_title, invocation_counter,
                self.keys.encryption_key, ciphertext, self.keys.authentication_key))
        except CryptographyError:
            raise AuthenticationError("APDU does not authenticate with the meter's keys"
                                      ) from None

    # -------------------------------------------------------------- HLS-GMAC

    def _gmac(self, system_title: bytes, invocation_counter: int, challenge: bytes) -> bytes:
        return dlms_security.gmac(_control(SC_AUTHENTICATED), system_title, invocation_counter,
                                  self.keys.encryption_key, self.keys.authentication_key,
                                  challenge)

    def verify_client_proof(self, proof: bytes, client_system_title: bytes,
                            server_challenge: bytes) -> None:
        """Check f(StoC) = SC ‖ IC ‖ GMAC(SC ‖ AK ‖ StoC) from the client (HLS pass 3)."""
        if len(proof) != 17 or proof[0] != SC_AUTHENTICATED or len(client_system_title) != 8:
            raise AuthenticationError("malformed HLS-GMAC proof")
        expected = self._gmac(client_system_title, int.from_bytes(proof[1:5], "big"),
                              server_challenge)
        if not hmac.compare_digest(proof[5:], expected):
            raise AuthenticationError("HLS-GMAC proof does not match")

    def server_proof(self, client_challenge: bytes) -> bytes:
        """f(CtoS) = SC ‖ IC ‖ GMAC(SC ‖ AK ‖ CtoS) from the meter (HLS pass 4)."""
        ic = self.next_invocation_counter()
        return (bytes((SC_AUTHENTICATED,)) + ic.to_bytes(4, "big")
                + self._gmac(self.system_title, ic, client_challenge))
