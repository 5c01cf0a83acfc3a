"""The `escrowgate` command: serve, worker, migrate, merchants, keys, jobs, backup, audit,
demo."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from .config import SettingsError, get_settings

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
merchants_app = typer.Typer(no_args_is_help=True, help="Manage merchants")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys")
app.add_typer(merchants_app, name="merchants")
app.add_typer(keys_app, name="keys")
webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook developer tools")
app.add_typer(webhooks_app, name="webhooks")
jobs_app = typer.Typer(no_args_is_help=True, help="Inspect and retry background jobs")
app.add_typer(jobs_app, name="jobs")
migrate_app = typer.Typer(help="Database migrations (Alembic)")
app.add_typer(migrate_app, name="migrate")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("escrowgate")
        except PackageNotFoundError:  # run from a source tree that was never installed
            installed = "(not installed)"
        typer.echo(f"escrowgate {installed}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """escrowgate operations"""


@migrate_app.callback(invoke_without_command=True)
def migrate(ctx: typer.Context) -> None:
    """Apply database migrations (Alembic) to DATABASE_URL: `escrowgate migrate`."""
    if ctx.invoked_subcommand is not None:
        return
    from .db.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("migrations applied")


@migrate_app.command("current")
def migrate_current() -> None:
    """Print the database's revision, and whether it is this code's head."""
    from .db.migrate import current_revision_sync, head_revision

    current, head = current_revision_sync(get_settings().database_url), head_revision()
    if current is None:
        typer.echo(f"none (not migrated; head is {head}): run escrowgate migrate")
    elif current == head:
        typer.echo(f"{current} (head)")
    else:
        typer.echo(f"{current} (head is {head}: run escrowgate migrate)")


@migrate_app.command("history")
def migrate_history() -> None:
    """List every migration this code ships, oldest first; the database's is marked."""
    from .db.migrate import current_revision_sync, history

    try:
        current = current_revision_sync(get_settings().database_url)
    except Exception as exc:  # the list is the code's; the marker needs the database
        typer.echo(f"(database unreachable: {type(exc).__name__})", err=True)
        current = None
    for rev, down, title in history():
        mark = "  <- current" if rev == current else ""
        typer.echo(f"{down or 'base'} -> {rev}  {title}{mark}")


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="the revision to go back to (e.g. 0009)")],
) -> None:
    """Go back to an earlier revision (a rollback: docs/deploy.md). Stop the service first."""
    from .db.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"downgraded to {revision}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn (several workers: a socket each, see serving.py)."""
    from .logging_setup import uvicorn_log_config
    from .serving import serve as run_server

    settings = get_settings()
    own_metrics_dir = _metrics_dir(workers)
    if not settings.worker_in_process:
        # Releases after dispute windows, time locks and payouts are jobs: without a
        # worker they wait forever. Say so where the operator is looking.
        typer.echo(
            "note: no background worker in this process; run `escrowgate worker` beside it "
            "(dispute windows, time locks, deadlines and payouts are its jobs)",
            err=True,
        )
    try:
        run_server(
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=uvicorn_log_config(settings.log_level),
        )
    finally:
        if own_metrics_dir is not None:
            import shutil

            shutil.rmtree(own_metrics_dir, ignore_errors=True)


def _metrics_dir(workers: int) -> str | None:
    """Metrics of several processes (docs/metrics.md): with PROMETHEUS_MULTIPROC_DIR set,
    every process writes there and /metrics sums them; its files of processes that are
    gone are removed now. Unset and several API workers: a private directory, removed
    at exit (answered, so the caller removes it). Set before prometheus-client loads."""
    import os

    name = "PROMETHEUS_MULTIPROC_DIR"
    own = None
    if not os.environ.get(name) and workers > 1:
        import tempfile

        own = os.environ[name] = tempfile.mkdtemp(prefix="escrowgate-metrics-")
    if os.environ.get(name):
        from .metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(os.environ[name])
    return own


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run due jobs once and exit")] = False,
) -> None:
    """Run the background worker (releases, time locks, deadlines, settlement, webhooks)."""
    _metrics_dir(1)  # before the worker's code loads prometheus-client
    from . import bootstrap
    from .worker.runner import run_cli

    settings = get_settings()
    handlers, housekeeping = bootstrap.job_handlers(), bootstrap.housekeeping(settings)
    loops = bootstrap.worker_loops()
    asyncio.run(run_cli(settings, handlers, housekeeping, once=once, loops=loops))


async def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from .db.engine import make_engine, make_session_factory

    engine = make_engine(get_settings().database_url)
    try:
        async with make_session_factory(engine)() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


@merchants_app.command("create")
def merchants_create(name: Annotated[str, typer.Option(help="merchant display name")]) -> None:
    """Create a merchant and print its id."""
    from .merchants import create_merchant

    merchant = asyncio.run(_with_session(lambda s: create_merchant(s, name)))
    typer.echo(merchant.id)


@keys_app.command("create")
def keys_create(
    merchant: Annotated[str | None, typer.Option(help="merchant id")] = None,
    mode: Annotated[
        str, typer.Option(help="test, live, or hackathon (an sk_hackathon_ test key)")
    ] = "test",
    operator: Annotated[bool, typer.Option(help="an operator (admin) key")] = False,
) -> None:
    """Create an API key and print it once (it is stored only as a hash)."""
    from .auth.keys import PREFIX_MODES, create_key
    from .merchants import require_merchant
    from .models import ApiKey

    if mode not in PREFIX_MODES:
        typer.echo("mode must be test, live or hackathon", err=True)
        raise typer.Exit(2)
    if not operator and not merchant:
        typer.echo("--merchant is required (or --operator)", err=True)
        raise typer.Exit(2)

    async def run(session: AsyncSession) -> tuple[ApiKey, str]:
        if merchant:
            await require_merchant(session, merchant)
        return await create_key(session, merchant_id=merchant, mode=mode, operator=operator)

    try:
        row, raw = asyncio.run(_with_session(run))
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"key id: {row.id}", err=True)
    typer.echo(raw)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="key id (key_...)")]) -> None:
    """Revoke a key; it fails at once on every request."""
    from .merchants import revoke_key

    ok = asyncio.run(_with_session(lambda s: revoke_key(s, key_id)))
    if not ok:
        typer.echo(f"no such key: {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def _when(ts: int | None) -> str:
    import datetime as dt

    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@merchants_app.command("list")
def merchants_list() -> None:
    """List merchants: id, name, created (UTC), keys (active / all)."""
    from .merchants import list_merchants

    rows = asyncio.run(_with_session(list_merchants))
    _table(
        ["ID", "NAME", "CREATED", "KEYS"],
        [[m.id, m.name, _when(m.created_at), f"{m.active_keys}/{m.keys}"] for m in rows],
    )


@keys_app.command("list")
def keys_list(
    merchant: Annotated[str | None, typer.Option(help="only this merchant's keys")] = None,
) -> None:
    """List API keys: id, merchant, kind, mode, prefix, created, last used, revoked.
    The secret is never shown (it is stored only as a hash)."""
    from .merchants import list_keys

    rows = asyncio.run(_with_session(lambda s: list_keys(s, merchant)))
    _table(
        ["ID", "MERCHANT", "KIND", "MODE", "PREFIX", "CREATED", "LAST USED", "REVOKED"],
        [
            [
                k.id,
                k.merchant_id or "-",
                k.kind,
                k.mode,
                k.key_hint,
                _when(k.created_at),
                _when(k.last_used_at),
                _when(k.revoked_at),
            ]
            for k in rows
        ],
    )


JOB_STATUSES = ("PENDING", "DONE", "FAILED", "CANCELLED")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str, typer.Option(help="PENDING, DONE, FAILED or CANCELLED")] = "FAILED",
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
) -> None:
    """List jobs of one status (default FAILED: failed for the last time, waiting for
    an operator): id, kind, attempts, due, order, target, last error."""
    from .worker.jobs import list_jobs

    if status.upper() not in JOB_STATUSES:
        typer.echo("status must be PENDING, DONE, FAILED or CANCELLED", err=True)
        raise typer.Exit(2)
    rows = asyncio.run(_with_session(lambda s: list_jobs(s, status.upper(), limit)))
    _table(
        ["ID", "KIND", "STATUS", "ATTEMPTS", "DUE", "ORDER", "TARGET", "LAST ERROR"],
        [
            [
                j.id,
                j.kind,
                j.status,
                str(j.attempts),
                _when(j.due_at),
                j.order_id or "-",
                j.target_id,
                " ".join((j.last_error or "-").split())[:80],
            ]
            for j in rows
        ],
    )


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[str, typer.Argument(help="job id (job_...)")]) -> None:
    """Make a FAILED job due now, with a fresh set of attempts; a worker runs it next."""
    from .worker.jobs import retry_job

    try:
        asyncio.run(_with_session(lambda s: retry_job(s, job_id)))
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{job_id}: FAILED -> PENDING (due now)")


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="the copy to write (must not exist)")],
) -> None:
    """Copy the SQLite database to FILE with SQLite's online backup (safe while the
    server runs, WAL mode included). On PostgreSQL use pg_dump (docs/deploy.md)."""
    from .db.backup import BackupError, backup_sqlite

    try:
        pages = backup_sqlite(get_settings().database_url, file)
    except BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from exc
    typer.echo(f"backup written: {file} ({pages} pages)")


@app.command()
def audit() -> None:
    """Prove every ledger transaction balances and every order's held amount
    equals funded - released - refunded >= 0. Exits 1 on any violation."""
    from .audit import run_audit

    problems = asyncio.run(_with_session(run_audit))
    if problems:
        for line in problems:
            typer.echo(line)
        typer.echo(f"audit FAILED: {len(problems)} problem(s)")
        sys.exit(1)
    typer.echo("audit ok: every transaction balances; every order's held amount is consistent")


@app.command()
def demo(port: Annotated[int | None, typer.Option(help="port the server will use")] = None) -> None:
    """Create a demo merchant with a test key (printed) and a ready-to-paste curl."""
    from .merchants import demo_setup

    settings = get_settings()
    key = asyncio.run(_with_session(demo_setup))
    # A wildcard bind address is not one a client can call: print loopback instead.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = f"http://{host}:{port or settings.port}/v1"
    typer.echo(
        f"""
Demo merchant ready. Test key (shown once; a new one is made each run):

  export ESCROWGATE_KEY={key}

Create a milestone-based escrow intent, then its first milestone:

  INTENT=$(curl -s {base}/payment-intents -H "X-API-Key: $ESCROWGATE_KEY" \\
    -H "Content-Type: application/json" -d '{{"amount": "1000.00", "currency": "USDC",
    "type": "DELIVERY_VS_PAYMENT", "settlementMethod": "OFF_RAMP_MOCK",
    "settlementDestination": "test_account_123",
    "metadata": {{"releaseType": "MILESTONE_LOCKED"}}}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

  curl {base}/payment-intents/$INTENT/escrow/milestones \\
    -H "X-API-Key: $ESCROWGATE_KEY" -H "Content-Type: application/json" -X POST \\
    -d '{{"milestoneIndex": 0, "description": "Initial payment - 30%",
         "amount": "300.00", "percentage": 30}}'
"""
    )


ApiKeyOption = Annotated[
    str, typer.Option(envvar="ESCROWGATE_KEY", help="merchant API key (sk_test_...)")
]
ApiBaseOption = Annotated[
    str | None, typer.Option(help="escrowgate base URL (default http://HOST:PORT)")
]


def _api_base(api_base: str | None) -> str:
    settings = get_settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return api_base or f"http://{host}:{settings.port}"


@webhooks_app.command("listen")
def webhooks_listen(
    forward_to: Annotated[str, typer.Option(help="local receiver URL")],
    api_key: ApiKeyOption,
    api_base: ApiBaseOption = None,
) -> None:
    """Follow the merchant's events and forward each, signed, to a local receiver."""
    import contextlib

    from .webhooks import devtools, signing

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it
        asyncio.run(
            devtools.listen(_api_base(api_base), api_key, forward_to, signing.random_secret())
        )


@webhooks_app.command("trigger")
def webhooks_trigger(
    event_type: Annotated[str, typer.Argument(help="e.g. milestone.released")],
    api_key: ApiKeyOption,
    api_base: ApiBaseOption = None,
) -> None:
    """Make a sample event through the real API (test mode)."""
    from .webhooks import devtools

    try:
        made = devtools.trigger(_api_base(api_base), api_key, event_type)
    except (ValueError, RuntimeError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for line in made:
        typer.echo(line)


def main() -> None:
    """The console script: a bad setting is one line naming the variable (exit 2)."""
    try:
        app()
    except SettingsError as exc:
        typer.echo(f"escrowgate: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
