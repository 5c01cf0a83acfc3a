"""The `escrowgate` command: serve, worker, migrate, merchants, keys, audit, demo."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from .config import SettingsError, get_settings

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="escrowgate operations",
    pretty_exceptions_enable=False,
)
merchants_app = typer.Typer(no_args_is_help=True, help="Manage merchants")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys")
app.add_typer(merchants_app, name="merchants")
app.add_typer(keys_app, name="keys")
webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook developer tools")
app.add_typer(webhooks_app, name="webhooks")


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) to DATABASE_URL."""
    from .db.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("migrations applied")


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
    if not settings.worker_in_process:
        # Releases after dispute windows, time locks and payouts are jobs: without a
        # worker they wait forever. Say so where the operator is looking.
        typer.echo(
            "note: no background worker in this process; run `escrowgate worker` beside it "
            "(dispute windows, time locks, deadlines and payouts are its jobs)",
            err=True,
        )
    run_server(
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings.log_level),
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run due jobs once and exit")] = False,
) -> None:
    """Run the background worker (releases, time locks, deadlines, settlement, webhooks)."""
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
