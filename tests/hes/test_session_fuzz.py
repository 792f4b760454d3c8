"""Whatever a meter answers, the head-end's session fails cleanly and never hangs (SPEC S14)."""

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smame.dlms import DEMO_KEYS
from smame.dlms.wrapper import encode_frame
from smame.hes.commands import CommandError, TransientError
from smame.hes.session import DlmsSession


class _Writer:
    def write(self, data: bytes) -> None:
        self.sent = data


async def _associate_against(answer: bytes) -> Exception | None:
    reader = asyncio.StreamReader()
    reader.feed_data(answer)
    reader.feed_eof()
    session = DlmsSession(reader, _Writer(), DEMO_KEYS, b"SMMHES01", 1, timeout=1)
    try:
        await session.associate()
    except (TransientError, CommandError) as exc:
        return exc
    return None


payloads = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=120).map(lambda b: bytes([0x61]) + b),  # AARE-looking
    st.binary(max_size=120).map(lambda b: bytes([0xDB, 0x08]) + b),  # general-glo-ciphering
    st.binary(max_size=40).map(lambda b: bytes([0xD8]) + b),  # exception response
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, framed=st.booleans())
def test_garbage_answers_fail_the_association_cleanly(payload, framed):
    answer = encode_frame(1, 1, payload) if framed else payload
    outcome = asyncio.run(asyncio.wait_for(_associate_against(answer), 5))
    assert isinstance(outcome, TransientError | CommandError)
