"""The one API driver of the test suites: every URL of the API written once, the
scenario helpers (fund, deliver, complete, approve, dispute, ...), the constants the
scenarios share, and the checks many tests make (`assert_error`, `audit_clean`).

Helpers take the httpx client and a merchant (anything with `.headers`) as their first
arguments. A helper whose name is a step of a scenario (`create_intent`, `dvp`,
`complete`, `deliver`, ...) asserts that the step succeeded and returns its data; a
`post_*` helper only sends the request and returns the response."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import event
from sqlalchemy.orm import Session

# --- The application's internals ------------------------------------------------------
# Tests reach into src/ through these names only: when a module moves, fix its path
# here and nowhere else.
import escrowgate.payments.delivery as delivery_service
import escrowgate.payments.disputes as disputes_service
import escrowgate.payments.lifecycle as lifecycle  # status moves and order events emit here
import escrowgate.payments.repository as payment_repository  # the aggregate's reads
import escrowgate.payments.routes as payment_routes
from escrowgate.api import idempotency
from escrowgate.api.edge import EdgeMiddleware
from escrowgate.api.rate_limit import RateLimiter
from escrowgate.app import create_app
from escrowgate.audit import run_audit
from escrowgate.auth.keys import create_key
from escrowgate.config import Settings
from escrowgate.db.constraints import violates_unique
from escrowgate.db.engine import make_engine, make_session_factory, normalize_url
from escrowgate.db.housekeeping import purge_idempotency_records as purge_idempotency_records_task
from escrowgate.db.migrate import upgrade as migrate_database
from escrowgate.domain import currencies  # the currency list, minor units, sandbox rates
from escrowgate.merchants import create_merchant, revoke_key
from escrowgate.models import (
    MILESTONE_INDEX_UNIQUE,
    ConditionalPayment,
    IdempotencyRecord,
    Job,
    LedgerEntry,
    PaymentIntent,
)
from escrowgate.worker import jobs as worker_jobs
from escrowgate.worker.runner import run_housekeeping

ASGI_APP = "escrowgate.asgi:app"  # what uvicorn serves in the end-to-end suites
CLI_MODULE = "escrowgate.cli"  # python -m CLI_MODULE

__all__ = [
    "MILESTONE_INDEX_UNIQUE",
    "ConditionalPayment",
    "EdgeMiddleware",
    "IdempotencyRecord",
    "Job",
    "LedgerEntry",
    "PaymentIntent",
    "RateLimiter",
    "Settings",
    "create_app",
    "currencies",
    "delivery_service",
    "disputes_service",
    "idempotency",
    "lifecycle",
    "payment_repository",
    "payment_routes",
    "make_engine",
    "make_session_factory",
    "migrate_database",
    "normalize_url",
    "purge_idempotency_records",
    "revoke_key",
    "violates_unique",
    "worker_jobs",
]

# --- URLs -------------------------------------------------------------------------------
# Every route of the API, written once. `prefix` is "/v1" or its alias "/api/v1";
# `spelling` is "escrow" or its alias "conditional-payment".

API = "/v1"
API_ALIAS = "/api/v1"
PREFIXES = [API, API_ALIAS]
ORDER_ALIAS = "conditional-payment"  # the order's other spelling
SPELLINGS = ["escrow", ORDER_ALIAS]


def intents_url(prefix: str = API) -> str:
    return f"{prefix}/payment-intents"


def intent_url(iid: str, tail: str = "", *, prefix: str = API) -> str:
    """The intent, or a route below it (`tail` starts with "/")."""
    return f"{intents_url(prefix)}/{iid}{tail}"


def public_intent_url(iid: str, tail: str = "", *, prefix: str = API) -> str:
    return f"{intents_url(prefix)}/public/{iid}{tail}"


def payment_url(iid: str, *, prefix: str = API) -> str:
    """The payer's card payment (no API key)."""
    return public_intent_url(iid, "/payment", prefix=prefix)


def transaction_hash_url(iid: str, *, prefix: str = API) -> str:
    return public_intent_url(iid, "/transaction-hash", prefix=prefix)


def confirm_url(iid: str, *, prefix: str = API) -> str:
    return intent_url(iid, "/confirm", prefix=prefix)


def cancel_url(iid: str, *, prefix: str = API) -> str:
    return intent_url(iid, "/cancel", prefix=prefix)


def refund_url(iid: str, *, prefix: str = API) -> str:
    return intent_url(iid, "/refund", prefix=prefix)


def order_url(iid: str, tail: str = "", *, spelling: str = "escrow", prefix: str = API) -> str:
    """The conditional payment (escrow order) of an intent, or a route below it."""
    return intent_url(iid, f"/{spelling}{tail}", prefix=prefix)


def delivery_proof_url(iid: str, *, spelling: str = "escrow", prefix: str = API) -> str:
    return order_url(iid, "/delivery-proof", spelling=spelling, prefix=prefix)


def approve_url(iid: str, *, spelling: str = "escrow", prefix: str = API) -> str:
    return order_url(iid, "/approve", spelling=spelling, prefix=prefix)


def dispute_url(iid: str, *, spelling: str = "escrow", prefix: str = API) -> str:
    return order_url(iid, "/dispute", spelling=spelling, prefix=prefix)


def resolve_url(iid: str, *, spelling: str = "escrow", prefix: str = API) -> str:
    return order_url(iid, "/dispute/resolve", spelling=spelling, prefix=prefix)


def milestones_url(iid: str, prefix: str = API, *, spelling: str = "escrow") -> str:
    return order_url(iid, "/milestones", spelling=spelling, prefix=prefix)


def milestone_url(iid: str, mid: str, action: str = "", *, prefix: str = API) -> str:
    """A milestone, or its action ("complete", "approve")."""
    url = f"{milestones_url(iid, prefix)}/{mid}"
    return f"{url}/{action}" if action else url


def payer_url(iid: str, tail: str = "", *, prefix: str = API) -> str:
    """The payer's routes (client secret, no key): the view, or an action below it."""
    return public_intent_url(iid, tail or "/payer", prefix=prefix)


def payer_milestone_approve_url(iid: str, mid: str, *, prefix: str = API) -> str:
    return public_intent_url(iid, f"/milestones/{mid}/approve", prefix=prefix)


def operator_approve_url(iid: str, mid: str, *, prefix: str = API) -> str:
    return f"{milestone_url(iid, mid, prefix=prefix)}/operator-approve"


def advance_clock_url(iid: str, *, prefix: str = API) -> str:
    return f"{prefix}/test_helpers/payment-intents/{iid}/advance_clock"


def events_url(prefix: str = API) -> str:
    return f"{prefix}/events"


def event_url(eid: str, *, prefix: str = API) -> str:
    return f"{events_url(prefix)}/{eid}"


def event_redeliver_url(eid: str, *, prefix: str = API) -> str:
    return f"{event_url(eid, prefix=prefix)}/redeliver"


def _account(prefix: str, under_intents: bool) -> str:
    """The account routes: at `{prefix}/account/...`, or (the reference backend's other
    documented place) below the intents, `{prefix}/payment-intents/account/...`."""
    return f"{intents_url(prefix) if under_intents else prefix}/account"


def balance_url(prefix: str = API, *, under_intents: bool = False) -> str:
    return f"{_account(prefix, under_intents)}/balance"


def ledger_url(prefix: str = API, *, under_intents: bool = False) -> str:
    return f"{_account(prefix, under_intents)}/ledger-entries"


def webhook_endpoints_url(prefix: str = API) -> str:
    return f"{prefix}/webhook-endpoints"


def webhook_endpoint_url(we_id: str, tail: str = "", *, prefix: str = API) -> str:
    """A webhook endpoint, or a route below it (`tail` starts with "/")."""
    return f"{webhook_endpoints_url(prefix)}/{we_id}{tail}"


def webhook_deliveries_url(we_id: str, *, prefix: str = API) -> str:
    return webhook_endpoint_url(we_id, "/deliveries", prefix=prefix)


def rotate_secret_url(we_id: str, *, prefix: str = API) -> str:
    return webhook_endpoint_url(we_id, "/rotate-secret", prefix=prefix)


# --- Constants the scenarios share ---------------------------------------------------------

AUTH = "authentication_error"  # the error type of 401s and 403s
FORBIDDEN = "You do not have access to this payment intent"
EXCEED = "Total milestone amounts exceed escrow order amount"
ISO_Z_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
ZERO = Decimal("0")
DAY = 86_400
WINDOW = 604_800  # the default dispute window
GOOD_CARD = {"cardNumber": "4242424242424242", "expiry": "12/39", "cvv": "123", "name": "Ada Payer"}
DECLINED_CARD_NUMBER = "4000000000000002"  # the sandbox's always-declined card
TX_HASH = "0x" + "ab" * 32  # a well-formed chain transaction hash
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # the sandbox escrow contract
CHAIN_ID = 11155111  # Sepolia, the sandbox chain
INTENT_ID_RE = re.compile(r"^intent_[A-Za-z0-9]+$")
# The accepted forms of a window (disputeWindow, autoReleaseAfter, ...), as every
# message that refuses one spells them.
FORMS = 'whole seconds (3600 or "3600") or a duration such as "3600s", "30m", "24h" or "7d"'
PROOF = {"proofHash": "0x" + "1f" * 32, "submittedBy": "0x" + "cd" * 20}
PROOF_WITH_URI = {**PROOF, "proofURI": "ipfs://QmProof"}
DISPUTE = {"reason": "Not as described", "raisedBy": "payer"}
SIG = "0x" + "11" * 65  # well-formed, signed by nobody
COMPLETED_BY = "0x" + "ab" * 20


# --- Merchants and keys ------------------------------------------------------------------


@dataclass
class Merchant:
    id: str
    key: str
    key_id: str
    mode: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


async def new_merchant(app: Any, name: str = "Acme Freelance", mode: str = "test") -> Merchant:
    async with app.state.session_factory() as session:
        merchant = await create_merchant(session, name)
        await session.flush()
        row, raw = await create_key(session, merchant_id=merchant.id, mode=mode)
        await session.commit()
    return Merchant(id=merchant.id, key=raw, key_id=row.id, mode=mode)


async def new_key(app: Any, m: Merchant, mode: str) -> Merchant:
    """Another key (e.g. live mode) for an existing merchant."""
    async with app.state.session_factory() as session:
        row, raw = await create_key(session, merchant_id=m.id, mode=mode)
        await session.commit()
    return Merchant(id=m.id, key=raw, key_id=row.id, mode=mode)


def basic_auth(key: str, password: str = "") -> dict[str, str]:
    """HTTP Basic with the key as user name (`curl -u sk_test_...:`)."""
    import base64

    token = base64.b64encode(f"{key}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def make_operator(app: Any, mode: str = "test") -> dict[str, str]:
    """The headers of a new operator key (resolves disputes)."""
    async with app.state.session_factory() as session:
        _, raw = await create_key(session, merchant_id=None, mode=mode, operator=True)
        await session.commit()
    return {"X-API-Key": raw}


# --- Checks ---------------------------------------------------------------------------------


def assert_error(
    r: httpx.Response,
    status: int,
    code: str,
    message: str | None = None,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["type"] == type_, err
    if message is not None:
        assert err["message"] == message, err
    if param is not None:
        assert err.get("param") == param, err
    assert r.headers.get("request-id", "").startswith("req_")
    return dict(err)


async def audit_clean(app: Any) -> None:
    async with app.state.session_factory() as session:
        problems = await run_audit(session)
    assert problems == [], problems


# --- Payment intents ----------------------------------------------------------------------


def intent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": "1000.00",
        "currency": "USDC",
        "type": "DELIVERY_VS_PAYMENT",
        "settlementMethod": "OFF_RAMP_MOCK",
        "settlementDestination": "test_account_123",
        "description": "Website build",
        "metadata": {"releaseType": "MILESTONE_LOCKED"},
    }
    if overrides.get("type", "DELIVERY_VS_PAYMENT") != "DELIVERY_VS_PAYMENT":
        body.pop("metadata")  # release terms are refused on a CONDITIONAL intent
    body.update(overrides)
    return body


async def create_intent(client: httpx.AsyncClient, m: Any, **overrides: Any) -> dict[str, Any]:
    r = await client.post(intents_url(), json=intent_body(**overrides), headers=m.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_intent(client: httpx.AsyncClient, m: Any, iid: str) -> dict[str, Any]:
    r = await client.get(intent_url(iid), headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def dvp(
    client: httpx.AsyncClient,
    m: Any,
    release_type: str = "DELIVERY_PROOF",
    payer: Any = None,
    fund: bool = True,
    **kw: Any,
) -> str:
    """A DELIVERY_VS_PAYMENT intent of 1000.00 USDC, funded by card unless fund=False."""
    meta = {"releaseType": release_type, **kw.pop("metadata", {})}
    iid = (await create_intent(client, m, metadata=meta, **kw))["id"]
    if fund:
        r = await pay_by_card(client, iid, payer=payer)
        assert r.status_code == 200, r.text
    return iid


# --- Funding ---------------------------------------------------------------------------------


def card(number: str, **overrides: Any) -> dict[str, Any]:
    return {**GOOD_CARD, "cardNumber": number, **overrides}


def sign(typed_data: dict[str, Any], account: Any) -> str:
    signed = Account.sign_message(encode_typed_data(full_message=typed_data), account.key)
    return "0x" + signed.signature.hex().removeprefix("0x")


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def high_s(signature: str) -> str:
    """The malleable twin of a signature (s' = N - s, v flipped): it recovers the same
    signer, and EIP-2 says to refuse it."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    twin = raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v ^ 1])
    return "0x" + twin.hex()


async def pay_by_card(
    client: httpx.AsyncClient,
    intent_id: str,
    *,
    card: dict[str, Any] | None = None,
    payer: Any = None,
) -> httpx.Response:
    body: dict[str, Any] = {"card": card or GOOD_CARD}
    if payer is not None:
        body["payerAddress"] = payer.address
    return await client.post(payment_url(intent_id), json=body)


async def pay_for_secret(client: httpx.AsyncClient, intent_id: str) -> str:
    """Pay by card (good card); the payer's client secret from the answer."""
    r = await pay_by_card(client, intent_id)
    assert r.status_code == 200, r.text
    return str(r.json()["clientSecret"])


async def planned(
    client: httpx.AsyncClient, m: Any, amounts: list[str], **kw: Any
) -> tuple[str, list[str], str]:
    """A MILESTONE_LOCKED intent whose milestones are planned before the payer pays
    (so the payer saw them); (intent id, milestone ids, the payer's client secret)."""
    iid = await dvp(client, m, "MILESTONE_LOCKED", fund=False, **kw)
    mids = await add_milestones(client, m, iid, amounts)
    return iid, mids, await pay_for_secret(client, iid)


# --- The payer's side (client secret) -------------------------------------------------------


async def payer_view(client: httpx.AsyncClient, iid: str, secret: str) -> dict[str, Any]:
    r = await client.get(payer_url(iid), params={"client_secret": secret})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def payer_approve(
    client: httpx.AsyncClient, iid: str, mid: str | None, secret: str | None
) -> httpx.Response:
    """The payer approves a milestone (`mid`) or, with mid=None, the delivery."""
    url = payer_url(iid, "/approve") if mid is None else payer_milestone_approve_url(iid, mid)
    headers = {"X-Client-Secret": secret} if secret is not None else {}
    return await client.post(url, headers=headers)


async def payer_dispute(
    client: httpx.AsyncClient, iid: str, secret: str | None, reason: str = "Not as agreed"
) -> httpx.Response:
    headers = {"X-Client-Secret": secret} if secret is not None else {}
    return await client.post(payer_url(iid, "/dispute"), json={"reason": reason}, headers=headers)


# --- The escrow order: delivery, approval, disputes -----------------------------------------


async def escrow(client: httpx.AsyncClient, m: Any, intent_id: str) -> dict[str, Any]:
    r = await client.get(order_url(intent_id), headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def deliver(
    client: httpx.AsyncClient, m: Any, iid: str, proof: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Submit the delivery proof; the order after it."""
    r = await client.post(delivery_proof_url(iid), json=proof or PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    return await escrow(client, m, iid)


async def raise_dispute(client: httpx.AsyncClient, m: Any, iid: str) -> dict[str, Any]:
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def advance(
    client: httpx.AsyncClient, m: Any, intent_id: str, seconds: int
) -> dict[str, Any]:
    """The test clock: move the order `seconds` forward (and run what fell due)."""
    r = await client.post(
        advance_clock_url(intent_id), json={"seconds": seconds}, headers=m.headers
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


# --- Milestones -------------------------------------------------------------------------------


async def post_milestone(
    client: httpx.AsyncClient, m: Any, intent_id: str, body: Any, *, prefix: str = API
) -> httpx.Response:
    return await client.post(milestones_url(intent_id, prefix), json=body, headers=m.headers)


async def add_milestone(
    client: httpx.AsyncClient, m: Any, iid: str, index: int, amount: str
) -> str:
    """Milestone `index` ("Step {index}") of `amount`; its id."""
    body = {"milestoneIndex": index, "description": f"Step {index}", "amount": amount}
    r = await post_milestone(client, m, iid, body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def add_milestones(
    client: httpx.AsyncClient, m: Any, iid: str, amounts: list[str]
) -> list[str]:
    """Milestones 0, 1, ... of these amounts (no description); their ids."""
    ids = []
    for index, amount in enumerate(amounts):
        r = await post_milestone(client, m, iid, {"milestoneIndex": index, "amount": amount})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def milestone(client: httpx.AsyncClient, m: Any, iid: str, mid: str) -> dict[str, Any]:
    r = await client.get(milestone_url(iid, mid), headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def post_complete(
    client: httpx.AsyncClient, m: Any, iid: str, mid: str, completed_by: str = COMPLETED_BY
) -> httpx.Response:
    return await client.post(
        milestone_url(iid, mid, "complete"), json={"completedBy": completed_by}, headers=m.headers
    )


async def complete(client: httpx.AsyncClient, m: Any, iid: str, mid: str) -> dict[str, Any]:
    """Complete the milestone; the response body ({"status", "data": the milestone})."""
    r = await post_complete(client, m, iid, mid)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def approve(
    client: httpx.AsyncClient, m: Any, iid: str, mid: str, payer: Any
) -> httpx.Response:
    """The payer signs the milestone's approval typed data; the approve response."""
    typed = (await milestone(client, m, iid, mid))["approvalTypedData"]
    return await client.post(
        milestone_url(iid, mid, "approve"),
        json={"signature": sign(typed, payer)},
        headers=m.headers,
    )


# --- Balance, ledger, events, the worker ------------------------------------------------------


async def balance(client: httpx.AsyncClient, m: Any, currency: str = "USDC") -> dict[str, Decimal]:
    r = await client.get(balance_url(), headers=m.headers)
    assert r.status_code == 200, r.text
    for row in r.json()["data"]["balances"]:
        if row["currency"] == currency:
            return {k: Decimal(v) for k, v in row.items() if k.endswith("Balance")}
    return {
        k: Decimal("0")
        for k in ("reservedBalance", "pendingBalance", "availableBalance", "totalBalance")
    }


async def list_all(client: httpx.AsyncClient, m: Any, path: str, **params: Any) -> list[Any]:
    """Every item of a newest-first list endpoint, paging with starting_after."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": 100, **params}
        if cursor:
            query["starting_after"] = cursor
        r = await client.get(path, params=query, headers=m.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["object"] == "list"
        items.extend(page["data"])
        if not page["hasMore"]:
            return items
        cursor = page["data"][-1]["id"]
    raise AssertionError("list never ended")


async def balance_body(client: httpx.AsyncClient, m: Any) -> dict[str, Any]:
    """The whole balance answer (primary currency at the top, `balances` per currency)."""
    r = await client.get(balance_url(), headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def ledger_page(client: httpx.AsyncClient, m: Any, **params: Any) -> httpx.Response:
    """One page of the ledger (`limit`, `offset`, cursors, filters)."""
    return await client.get(ledger_url(), params=params, headers=m.headers)


async def ledger_entries(client: httpx.AsyncClient, m: Any, **params: Any) -> list[Any]:
    return await list_all(client, m, ledger_url(), **params)


async def events(client: httpx.AsyncClient, m: Any, **params: Any) -> list[dict[str, Any]]:
    """Every event of the merchant, newest first."""
    return await list_all(client, m, events_url(), **params)


def transactions(entries: list[Any]) -> dict[str, list[Any]]:
    """transactionId -> its legs. Asserts every transaction balances (legs sum to 0)."""
    out: dict[str, list[Any]] = {}
    for e in entries:
        out.setdefault(e["transactionId"], []).append(e)
    for txn, legs in out.items():
        assert len(legs) == 2, (txn, legs)
        assert sum(Decimal(e["amount"]) for e in legs) == 0, (txn, legs)
        assert len({e["transactionType"] for e in legs}) == 1, (txn, legs)
    return out


def kinds(entries: list[Any]) -> list[str]:
    """The transaction types of the entries' transactions, sorted (one per transaction)."""
    return sorted(legs[0]["transactionType"] for legs in transactions(entries).values())


async def run_worker(app: Any) -> int:
    """One pass of the worker over the jobs that are due; how many ran."""
    return int(await app.state.run_due_jobs())


async def purge_idempotency_records(app: Any) -> int:
    """One housekeeping pass of the worker: idempotency answers past 24 hours."""
    return await run_housekeeping(app.state.session_factory, [purge_idempotency_records_task])


async def db_execute(app: Any, sql: str, **params: Any) -> Any:
    """Run one SQL statement in its own committed transaction; rows if it returns any."""
    from sqlalchemy import text

    async with app.state.session_factory() as session:
        result = await session.execute(text(sql), params)
        rows = list(result.all()) if result.returns_rows else None
        await session.commit()
    return rows


async def sessions_not_freed(requests: Callable[[], Awaitable[None]]) -> tuple[int, list[str]]:
    """How many sessions `requests` made, and those still alive once they returned, with
    the cyclic GC off: a session in a reference cycle is not freed with its request but
    waits for the GC, whose collections pause every request in flight (each leftover
    makes them come sooner and last longer)."""
    made: list[weakref.ref[Session]] = []

    def record(session: Session, _transaction: Any) -> None:
        if not any(ref() is session for ref in made):
            made.append(weakref.ref(session))

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    event.listen(Session, "after_transaction_create", record)
    try:
        await requests()
        return len(made), [type(s).__name__ for ref in made if (s := ref()) is not None]
    finally:
        event.remove(Session, "after_transaction_create", record)
        if enabled:
            gc.enable()
