"""``smame api``, ``smame clients``, ``smame consents`` and ``smame audit`` (SPEC S6, S7,
S14).

``clients``, ``consents`` and ``audit`` touch only the API's own state under
``DIR/api`` (SQLite, key files, the audit log), so they work while a server runs. With
``--state postgresql://...`` (or ``SMAME_STATE``) clients, consents, commands and rate-limit
buckets are in that PostgreSQL database, shared by every API process naming it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smame.api.audit import AuditLog, verify_log
from smame.api.checkpoint import CheckpointError, fingerprint, read_checkpoint
from smame.api.clients import ClientError
from smame.api.consents import ConsentError
from smame.api.roles import CONSENT_CATEGORIES, Role
from smame.api.state import AUDIT_KEY, AUDIT_LOG, CHECKPOINT_KEY, open_access
from smame.clirun import CliError, console, existing_store, new_app
from smame.clirun import err_console as err
from smame.clock import WallClock

__all__ = ["api_app", "audit_app", "clients_app", "consents_app"]

api_app = new_app("The data-provision API and operator console.")
clients_app = new_app("API clients (OAuth2 client credentials).")
consents_app = new_app("Customer consents for third parties (S6).")
audit_app = new_app("The hash-chained audit log (S14).")
Data = Annotated[Path, typer.Option("--data", help="MDMS data directory.")]
StateUrl = Annotated[str | None, typer.Option(
    "--state", envvar="SMAME_STATE", show_envvar=True,
    help="Shared state in PostgreSQL (postgresql://user@host:port/db): clients, consents, "
         "commands, rate limits and the registry, for several API processes. Default: "
         "SQLite under DIR/api.")]
_DEFAULT_DATA = Path("smame-data")


def _fail(message: str) -> None:
    raise CliError(message)


def _state_dir(data: Path) -> Path:
    """The API's state: existing, or new in an MDMS store; a mistyped --data creates nothing."""
    state = data / "api"
    if not state.is_dir():
        existing_store(data)
    return state


def _open_access(data: Path, state: str | None):
    """The access database and its stores, or one line saying why not."""
    from smame.api.db import is_state_url

    if state is not None and not is_state_url(state):
        _fail(f"--state {state!r} is not a PostgreSQL URL (postgresql://user@host:port/db)")
    try:
        return open_access(_state_dir(data), state_url=state)
    except ConnectionError as exc:
        _fail(str(exc))
        raise


def _audit(data: Path, action: str, **fields) -> None:
    state = _state_dir(data)
    log = AuditLog(state / AUDIT_LOG, state / AUDIT_KEY, WallClock())
    try:
        log.append(action, client=f"cli:{getpass.getuser()}@{socket.gethostname()}",
                   pid=os.getpid(), **fields)
    finally:
        log.close()


# ---------------------------------------------------------------------- api


@api_app.command("serve")
def serve(
    data: Data = _DEFAULT_DATA,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    live_meters: Annotated[int, typer.Option(
        help="Also serve a live fleet of N meters over DLMS with a head-end, in the same "
             "event loop: commands really reach meters.")] = 0,
    speed: Annotated[float, typer.Option(help="Live mode: simulated seconds per second.")] = 60,
    start: Annotated[str | None, typer.Option(
        help="Live mode: first simulated JST day (YYYY-MM-DD); default today.")] = None,
    seed: Annotated[int, typer.Option(help="Live mode: random seed of the fleet.")] = 0,
    mass_threshold: Annotated[int, typer.Option(
        help="Commands reaching more meters need a second operator's approval.")] = 100,
    read_rate: Annotated[float, typer.Option(
        help="Data requests per second allowed per client (bursts of twice that).")] = 200,
    operators: Annotated[bool, typer.Option(
        help="Live mode: create two operator logins and a retailer client, and print "
             "them.")] = True,
    state: StateUrl = None,
    consume: Annotated[str | None, typer.Option(
        help="Also ingest this store's MDMS shard from the bus at this NATS URL: --data is "
             "shard K's directory of a deployment root (its parent holds shards.json).")
        ] = None,
    shard: Annotated[int | None, typer.Option(help="With --consume: the shard K of --data.")
                     ] = None,
    dask: Annotated[str | None, typer.Option(
        help="With --consume and --shard: also be the Dask worker of shard K for the "
             "scheduler at this address (tcp://host:port); `smame batch --pinned` tasks "
             "for the shard run here, on this store.")] = None,
    clock: Annotated[Path | None, typer.Option(
        "--clock", help="Meter time from this JSON file (start, speed, wall_origin), as the "
                        "meters of a deployment run it (`smame meter serve --clock`); the "
                        "MDMS validates and the API answers on it.")] = None,
) -> None:
    """Serve the API (and the console at /console/) over a data directory."""
    from smame.api.config import ApiConfig, RateLimit

    if not 0 <= port <= 65535:
        _fail("--port must be within 0–65535")
    if mass_threshold < 1 or read_rate <= 0:
        _fail("--mass-threshold and --read-rate must be positive")
    defaults = ApiConfig(data).rate_limits
    try:
        config = ApiConfig(data, state_url=state, mass_command_meters=mass_threshold,
                           rate_limits={**defaults,
                                        "read": RateLimit(read_rate, max(1.0, 2 * read_rate))})
    except ValueError as exc:
        _fail(str(exc))
    from smame.api.live import ListenError, listen

    if live_meters:
        from smame.api.live import run_live

        if not 1 <= live_meters <= 5000:
            _fail("--live-meters must be within 1–5000 (one TCP server per meter)")
        if not 1 <= speed <= 20_000:
            _fail("--speed must be within 1–20000")
        try:
            first = date.fromisoformat(start) if start else None
        except ValueError:
            _fail(f"--start {start!r} is not a date (YYYY-MM-DD)")
    else:
        existing_store(data)
    if dask is not None and (consume is None or shard is None or "://" not in dask):
        _fail("--dask needs --consume and --shard, and an address like tcp://host:8786")
    consumer = _consumer(consume, shard, data) if consume is not None or shard is not None \
        else None
    try:
        listener = listen(host, port)
    except ListenError as exc:
        _fail(str(exc.strerror))
    with listener, contextlib.suppress(KeyboardInterrupt), _state_errors():
        if live_meters:
            import asyncio

            asyncio.run(run_live(config, live_meters, speed, host, port, seed=seed, day=first,
                                 console=console, operators=operators, listener=listener))
            return
        import uvicorn

        from smame.api.app import create_app
        from smame.mdms.jobwire import take_store_lock

        with take_store_lock(data) as store_lock:  # the owner: `smame mdms` jobs come here
            app = create_app(config, store_lock=store_lock, consume=consumer,
                             data_clock=_meter_clock(clock) if clock is not None else None,
                             dask=(dask, shard) if dask is not None else None)
            url = f"http://{host}:{listener.getsockname()[1]}"
            shared = f" — shared state {_where(state)}" if state else ""
            console.print(f"smame API on {url}/v1 — console at {url}/console/ — OpenAPI at "
                          f"/v1/openapi.json{shared}", soft_wrap=True)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                   access_log=False))
            server.run(sockets=[listener])


def _meter_clock(path: Path):
    """The clock a --clock file describes, or a one-line error."""
    from smame.clock import clock_file

    try:
        return clock_file(path)
    except ValueError as exc:
        _fail(f"--clock {path}: {exc}")


def _consumer(url: str | None, shard: int | None, data: Path):
    """The bus consumer of shard ``shard`` whose store is ``data``, or a one-line error."""
    from smame.mdms.shards import ShardMap

    if url is None or shard is None:
        _fail("--consume and --shard go together")
    if not url.startswith(("nats://", "tls://")):
        _fail(f"--consume {url!r}: give a URL such as nats://127.0.0.1:4222")
    root = data.resolve().parent
    try:
        shard_map = ShardMap.load(root)
    except ValueError as exc:
        _fail(str(exc))
    if not 0 <= shard < shard_map.shards or ShardMap.directory(root, shard) != data.resolve():
        _fail(f"--data {data} is not shard {shard}'s directory of {root} (shards "
              f"0..{shard_map.shards - 1} are {ShardMap.directory(root, 0).name}...)")

    def worker(mdms):
        from smame.bus.worker import IngestWorker

        return IngestWorker(url, mdms, shard, shard_map)
    return worker


@api_app.command("state-init")
def state_init(
    state: Annotated[str, typer.Option("--state", envvar="SMAME_STATE", show_envvar=True,
                                       help="The PostgreSQL state (postgresql://...).")],
    data: Data = _DEFAULT_DATA,
) -> None:
    """Prepare a shared PostgreSQL state: its tables, and the registry of --data's MDMS
    copied into it once (the API processes on that state read the registry there)."""
    from smame.mdms import Mdms
    from smame.store.registry import Registry, RegistryError

    existing_store(data)
    db, _, _ = _open_access(data, state)
    db.close()
    target = Registry.postgres(state)
    try:
        if target.has_meters():
            console.print(f"the state's registry already holds {target.count('meters'):,} "
                          "meters: left as it is")
            return
        with Mdms(data) as mdms:
            try:
                copied = mdms.registry.copy_into(target)
            except RegistryError as exc:
                _fail(str(exc))
    finally:
        target.close()
    console.print(f"state ready: {copied['meters']:,} meters, "
                  f"{copied['service_points']:,} service points and the rest of the "
                  f"registry of {data} copied into it", soft_wrap=True)


def _where(state_url: str) -> str:
    """A state URL without its credentials, to print."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(state_url)
    return f"postgresql://{parts.get('host', '')}:{parts.get('port', 5432)}/" \
           f"{parts.get('dbname', '')}"


@contextlib.contextmanager
def _state_errors():
    """An unreachable shared state database: one line, not a traceback."""
    try:
        yield
    except ConnectionError as exc:
        _fail(str(exc))


# ---------------------------------------------------------------------- clients


@clients_app.command("add")
def clients_add(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. 'R01 billing system'.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(r.value for r in Role)}.")],
    party: Annotated[str | None, typer.Option(
        help="Retailer, company or organisation id the client acts for.")] = None,
    data: Data = _DEFAULT_DATA,
    state: StateUrl = None,
) -> None:
    """Create a client; prints its id and secret (the secret is shown only now)."""
    db, clients, _ = _open_access(data, state)
    try:
        client, secret = clients.add(name, role, party)
    except ClientError as exc:
        _fail(str(exc))
    finally:
        db.close()
    _audit(data, "clients.add", detail={"client_id": client.client_id, "role": str(client.role),
                                        "party": client.party})
    console.print(f"client_id     {client.client_id}", soft_wrap=True)
    console.print(f"client_secret {secret}", soft_wrap=True)
    console.print(f"role          {client.role}" + (f" ({client.party})" if client.party
                                                    else ""))
    err.print("The secret is not stored anywhere: keep it now.")


@clients_app.command("list")
def clients_list(data: Data = _DEFAULT_DATA, state: StateUrl = None) -> None:
    """All clients, revoked ones too."""
    db, clients, _ = _open_access(data, state)
    try:
        rows = clients.list()
    finally:
        db.close()
    table = Table("name", "role", "party", "created", "status")
    table.add_column("client_id", no_wrap=True)
    for client in rows:
        table.add_row(client.name, str(client.role), client.party or "",
                      datetime.fromtimestamp(client.created_at, UTC).isoformat(timespec="seconds"),
                      "active" if client.active else "revoked", client.client_id)
    console.print(table)


@clients_app.command("revoke")
def clients_revoke(client_id: str, data: Data = _DEFAULT_DATA, state: StateUrl = None
                   ) -> None:
    """Revoke a client: no new tokens, and its tokens stop working at once."""
    db, clients, _ = _open_access(data, state)
    try:
        client = clients.revoke(client_id)
    except ClientError as exc:
        _fail(str(exc))
    finally:
        db.close()
    _audit(data, "clients.revoke", detail={"client_id": client.client_id})
    console.print(f"revoked {client.client_id} ({client.name})")


# ---------------------------------------------------------------------- consents


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a date (YYYY-MM-DD)")
        raise


@consents_app.command("grant")
def consents_grant(
    sp: Annotated[str, typer.Option(help="Service point (22-digit 供給地点特定番号).")],
    grantee: Annotated[str, typer.Option(help="Party id of the third party.")],
    purpose: Annotated[str, typer.Option(help="What the data is used for.")],
    category: Annotated[list[str], typer.Option(
        help=f"Data covered (repeat): {', '.join(CONSENT_CATEGORIES)}.")],
    data_from: Annotated[str, typer.Option("--from", help="First JST day of data covered.")],
    data_to: Annotated[str | None, typer.Option("--to", help="Day after the last covered.")
                       ] = None,
    customer_ref: Annotated[str | None, typer.Option(help="The customer's reference.")] = None,
    data: Data = _DEFAULT_DATA,
    state: StateUrl = None,
) -> None:
    """Record a customer's consent (as the data association would)."""
    first = _day(data_from, "--from")
    last = _day(data_to, "--to") if data_to else None
    db, _, consents = _open_access(data, state)
    try:
        consent = consents.grant(sp, grantee, category, purpose, first, last,
                                 customer_ref=customer_ref, granted_by="cli")
    except ConsentError as exc:
        _fail(str(exc))
    finally:
        db.close()
    _audit(data, "consents.grant", detail={"consent": consent.consent_id, "sp_id": sp,
                                           "grantee": grantee})
    console.print(f"consent {consent.consent_id}: {grantee} may see "
                  f"{', '.join(sorted(consent.categories))} of {sp} from {first}"
                  + (f" to {last}" if last else ""))


@consents_app.command("list")
def consents_list(data: Data = _DEFAULT_DATA, state: StateUrl = None,
                  grantee: Annotated[str | None, typer.Option()] = None,
                  sp: Annotated[str | None, typer.Option()] = None) -> None:
    """Consents, newest last."""
    db, _, consents = _open_access(data, state)
    try:
        rows = consents.list(grantee, sp)
    finally:
        db.close()
    now = WallClock().time()
    table = Table("service point", "grantee", "categories", "data from", "to", "purpose",
                  "status")
    table.add_column("consent_id", no_wrap=True)
    for c in rows:
        table.add_row(c.sp_id, c.grantee, " ".join(sorted(c.categories)),
                      c.data_from.isoformat(), c.data_to.isoformat() if c.data_to else "",
                      c.purpose, "in force" if c.effective(now) else (
                          "revoked" if c.revoked_at else "expired"), c.consent_id)
    console.print(table)


@consents_app.command("revoke")
def consents_revoke(consent_id: str, data: Data = _DEFAULT_DATA, state: StateUrl = None
                    ) -> None:
    """Revoke a consent: effective at once, also for a running server."""
    db, _, consents = _open_access(data, state)
    try:
        consent = consents.revoke(consent_id, "cli")
    except ConsentError as exc:
        _fail(str(exc))
    finally:
        db.close()
    _audit(data, "consents.revoke", detail={"consent": consent_id})
    console.print(f"revoked {consent.consent_id} ({consent.grantee} at {consent.sp_id})")


# ---------------------------------------------------------------------- audit


@audit_app.command("verify")
def audit_verify(
    data: Data = _DEFAULT_DATA,
    expect_head: Annotated[str | None, typer.Option(
        help="A head hash recorded earlier (smame audit head): it must be in the log.")] = None,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        help="A signed checkpoint exported earlier (smame audit checkpoint; repeatable): "
             "its entry must still be in the log, unchanged.")] = None,
) -> None:
    """Check every entry's hash chain and MAC; exit 1 if anything was edited."""
    state = _state_dir(data)
    log_path, key_path = state / AUDIT_LOG, state / AUDIT_KEY
    if not log_path.exists():
        _fail(f"no audit log at {log_path}")
    key = key_path.read_bytes() if key_path.exists() else None
    anchors = tuple(_checkpoints(checkpoint or [], state))
    report = verify_log(log_path, key, expect_head, anchors)
    if report.ok:
        console.print(f"audit log intact: {report.entries} entries, head seq "
                      f"{report.head_seq}, hash {report.head_hash}"
                      + ("" if key else " (no audit key: MACs not checked)"))
        for anchor in anchors:
            console.print(f"  holds the signed checkpoint of {anchor.time} (seq {anchor.seq}, "
                          f"key fingerprint {fingerprint(bytes.fromhex(anchor.public_key))})",
                          soft_wrap=True)
        return
    err.print(f"[red]audit log tampered:[/] {len(report.problems)} problem(s)")
    for problem in report.problems[:50]:
        err.print(f"  {problem}")
    raise typer.Exit(1)


def _checkpoints(paths: list[Path], state: Path):
    """The checkpoints at ``paths``, signatures checked; one made under another key than
    this system's is refused."""
    pub = state / f"{Path(CHECKPOINT_KEY).stem}.pub"
    ours = pub.read_text().strip() if pub.exists() else None
    for path in paths:
        try:
            anchor = read_checkpoint(path)
        except CheckpointError as exc:
            _fail(str(exc))
            raise
        if ours is not None and anchor.public_key != ours:
            _fail(f"{path} was signed by key {fingerprint(bytes.fromhex(anchor.public_key))}, "
                  f"not this system's {fingerprint(bytes.fromhex(ours))}")
        yield anchor


@audit_app.command("checkpoint")
def audit_checkpoint(
    data: Data = _DEFAULT_DATA,
    out: Annotated[Path | None, typer.Option(
        help="Also write the checkpoint to this new file (to keep outside the system).")
                   ] = None,
) -> None:
    """Sign the audit log's head (Ed25519) and print the checkpoint, to keep elsewhere."""
    state = _state_dir(data)
    if not (state / AUDIT_LOG).exists():
        _fail(f"no audit log at {state / AUDIT_LOG}")
    if out is not None and out.exists():
        _fail(f"{out} exists: a checkpoint is written to a new file")
    try:
        log = AuditLog(state / AUDIT_LOG, state / AUDIT_KEY, WallClock(),
                       checkpoint_key=state / CHECKPOINT_KEY)
    except (OSError, CheckpointError) as exc:
        _fail(str(exc))
        raise
    try:
        anchor = log.checkpoint()
    finally:
        log.close()
    if out is not None:
        try:
            out.write_text(anchor.document())
        except OSError as exc:
            _fail(f"cannot write {out}: {exc.strerror}")
    console.out(anchor.document(), end="", highlight=False)
    err.print(f"checkpoint of seq {anchor.seq}; key fingerprint "
              f"{fingerprint(bytes.fromhex(anchor.public_key))}", soft_wrap=True)


@audit_app.command("head")
def audit_head(data: Data = _DEFAULT_DATA) -> None:
    """Print the newest entry's sequence number and hash, to keep elsewhere."""
    state = _state_dir(data)
    log = AuditLog(state / AUDIT_LOG, state / AUDIT_KEY, WallClock())
    try:
        seq, digest = log.head()
    finally:
        log.close()
    console.print(f"{seq} {digest}")


@audit_app.command("show")
def audit_show(data: Data = _DEFAULT_DATA,
               last: Annotated[int, typer.Option(help="How many entries.")] = 20) -> None:
    """The newest entries."""
    state = _state_dir(data)
    log = AuditLog(state / AUDIT_LOG, state / AUDIT_KEY, WallClock())
    try:
        seq, _ = log.head()
        entries = log.entries(max(0, seq - last), last)
    finally:
        log.close()
    table = Table("seq", "time", "action", "client", "method", "path", "status", "outcome")
    for e in entries:
        table.add_row(str(e.get("seq")), str(e.get("time")), str(e.get("action")),
                      str(e.get("client") or ""), str(e.get("method") or ""),
                      str(e.get("path") or ""), str(e.get("status") or ""),
                      str(e.get("outcome") or ""))
    console.print(table)
