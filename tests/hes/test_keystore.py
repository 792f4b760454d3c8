"""Keys at rest and invocation counters that survive a restart (SPEC S14)."""

import logging

import pytest

from smame.dlms.security import MeterKeys
from smame.hes.keystore import KeyStore, KeyStoreError, MasterKey

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))


@pytest.fixture
def master(tmp_path):
    return MasterKey.generate(tmp_path / "master.key")


def test_keys_round_trip_and_are_sealed_at_rest(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    store.put(100000001, MeterKeys(EK, AK))
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
    assert EK not in raw
    assert AK not in raw
    again = KeyStore(tmp_path / "keys.db", MasterKey.load(tmp_path / "master.key"))
    keys = again.get(100000001)
    assert keys.encryption_key == EK
    assert keys.authentication_key == AK
    assert again.meters() == [100000001]
    with pytest.raises(KeyStoreError, match="no keys for meter 5"):
        again.get(5)


def test_the_wrong_master_key_opens_nothing(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    store.put(1, MeterKeys(EK, AK))
    store.close()
    with pytest.raises(KeyStoreError, match="another master key"):
        KeyStore(tmp_path / "keys.db", MasterKey.generate(tmp_path / "other.key"))


def test_sealed_keys_cannot_be_moved_to_another_meter(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    store.put(1, MeterKeys(EK, AK))
    store._db.execute("UPDATE meter_keys SET meter_id = 2")
    store._cache.clear()
    with pytest.raises(KeyStoreError):
        store.get(2)


def test_keys_never_show_in_reprs_or_logs(caplog):
    keys = MeterKeys(EK, AK)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("smame").info("keys %s %r", keys, keys)
    text = caplog.text + repr(keys) + str(keys)
    assert EK.hex() not in text.lower()
    assert "000102" not in text
    assert repr(MasterKey(bytes(32))) == "MasterKey(…)"


def test_bad_keys_and_master_keys_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="16 octets"):
        MeterKeys(EK[:8], AK)
    with pytest.raises(ValueError, match="bad key"):
        MeterKeys.from_hex("zz" * 16, AK.hex())
    monkeypatch.delenv(MasterKey.ENV, raising=False)
    with pytest.raises(KeyStoreError, match="no master key"):
        MasterKey.load()
    monkeypatch.setenv(MasterKey.ENV, "ab" * 31)
    with pytest.raises(KeyStoreError, match="32 bytes"):
        MasterKey.load()


def test_send_counters_are_never_reused_after_a_crash(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    used = [store.next_send_counter(7) for _ in range(5)]
    assert used == [0, 1, 2, 3, 4]
    # The process dies here: no close(), no flush().
    reopened = KeyStore(tmp_path / "keys.db", master)
    assert reopened.next_send_counter(7) > used[-1]
    assert reopened.next_send_counter(8) == 0


def test_received_counters_reject_replays_and_persist_when_flushed(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    assert store.accept_received(9, 10)
    assert not store.accept_received(9, 10)
    assert not store.accept_received(9, 3)
    assert store.accept_received(9, 11)
    store.flush()
    reopened = KeyStore(tmp_path / "keys.db", master)
    assert reopened.last_received(9) == 11
    assert not reopened.accept_received(9, 11)
    assert reopened.accept_received(9, 12)


def test_sessions_reserve_their_counters_before_they_start(tmp_path, master):
    store = KeyStore(tmp_path / "keys.db", master)
    first = store.begin_session(3)
    store.end_session(3, first + 40)
    second = store.begin_session(3)
    assert second >= first + 40
    # A session that ran past its budget still never overlaps the next one...
    store.end_session(3, second + 2000)
    third = store.begin_session(3)
    assert third >= second + 2000
    # ...and a crash inside a session never reuses its reserved counters.
    reopened = KeyStore(tmp_path / "keys.db", master)
    assert reopened.begin_session(3) >= third + 512
