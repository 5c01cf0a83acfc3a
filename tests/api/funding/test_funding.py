"""Money in: the sandbox card rail (the docs' test cards), the wallet rail (EIP-712
confirm + transaction hash + sandbox chain), live mode refused, and CONDITIONAL
intents paid straight to the merchant. Every test checks balances and the ledger."""

from __future__ import annotations

import asyncio
import secrets
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account

from escrowgate.config import Settings
from tests.support.driver import (
    DECLINED_CARD_NUMBER,
    TX_HASH,
    ZERO,
    assert_error,
    audit_clean,
    balance,
    balance_url,
    cancel_url,
    card,
    confirm_url,
    create_intent,
    db_execute,
    escrow,
    events_url,
    get_intent,
    kinds,
    ledger_entries,
    list_all,
    order_url,
    pay_by_card,
    run_worker,
    sign,
    transaction_hash_url,
    transactions,
)

OTHER_HASH = "0x" + "cd" * 32


@pytest.fixture(autouse=True)
def fresh_hashes(monkeypatch):
    """A chain transaction funds one intent in the whole database: each test its own."""
    monkeypatch.setitem(globals(), "TX_HASH", "0x" + secrets.token_hex(32))
    monkeypatch.setitem(globals(), "OTHER_HASH", "0x" + secrets.token_hex(32))


async def assert_unfunded(client: httpx.AsyncClient, m: Any, intent_id: str, status: str) -> None:
    """Nothing moved: no ledger entry, zero balances, order not funded."""
    intent = await get_intent(client, m, intent_id)
    assert intent["status"] == status
    assert await ledger_entries(client, m, paymentIntentId=intent_id) == []
    b = await balance(client, m)
    assert b["reservedBalance"] == ZERO and b["totalBalance"] == ZERO
    order = await escrow(client, m, intent_id)
    assert order["fundedAmount"] == "0.00" and order["fundedAt"] is None


async def assert_funded_once(
    client: httpx.AsyncClient, m: Any, intent_id: str, amount: str = "1000.00"
) -> None:
    """Exactly one FUND transaction: escrow +amount, payer -amount; reserved = amount."""
    entries = await ledger_entries(client, m, paymentIntentId=intent_id)
    txns = transactions(entries)
    assert kinds(entries) == ["FUND"]
    (legs,) = txns.values()
    by_account = {e["account"]: Decimal(e["amount"]) for e in legs}
    assert by_account == {"escrow": Decimal(amount), "payer": -Decimal(amount)}
    assert all(e["paymentIntentId"] == intent_id for e in legs)
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal(amount)
    assert b["availableBalance"] == ZERO and b["pendingBalance"] == ZERO
    order = await escrow(client, m, intent_id)
    assert order["fundedAmount"] == amount and order["heldAmount"] == amount
    assert order["fundedAt"] is not None


async def status_changes(
    client: httpx.AsyncClient, m: Any, intent_id: str
) -> list[tuple[str, str]]:
    """(previous_status, status) of the intent's status_changed events, oldest first."""
    events = await list_all(client, m, events_url(), type="payment_intent.status_changed")
    mine = [e["data"]["object"] for e in events if e["data"]["object"]["id"] == intent_id]
    return [(o["previous_status"], o["status"]) for o in reversed(mine)]


# --- Card rail ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "4242 4242 4242 4242"])
async def test_good_test_cards_fund_the_escrow(client, app, make_merchant, number):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await pay_by_card(client, iid, card=card(number))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "SUCCEEDED"
    data = (await get_intent(client, m, iid))["data"]  # the payer's answer is the public view
    assert data["fiatPaymentStatus"] == "succeeded"
    assert data["paymentProcessorType"] == "mocked_stripe"
    assert data["paymentProcessorTxId"].startswith("ch_")
    assert data["cardLast4"] == number[-4:]
    assert data["stablecoinAmount"] == "1000.00" and data["stablecoinCurrency"] == "USDC"
    await assert_funded_once(client, m, iid)
    assert await status_changes(client, m, iid) == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
    ]
    await audit_clean(app)


async def test_declined_card_stays_payable_then_a_good_card_funds(client, app, make_merchant):
    """A decline leaves the intent INITIATED (payable), recorded in lastPaymentError."""
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await pay_by_card(client, iid, card=card(DECLINED_CARD_NUMBER))
    assert_error(r, 400, "payment_failed", "Your card was declined.", param="card")
    await assert_unfunded(client, m, iid, "INITIATED")
    intent = await get_intent(client, m, iid)
    assert intent["data"]["fiatPaymentStatus"] == "failed"
    assert intent["data"]["lastPaymentError"] == {
        "code": "payment_failed",
        "message": "Your card was declined.",
        "cardLast4": "0002",
    }
    assert await status_changes(client, m, iid) == []

    # Declined again: still INITIATED, still nothing moved.
    r = await pay_by_card(client, iid, card=card(DECLINED_CARD_NUMBER))
    assert_error(r, 400, "payment_failed", "Your card was declined.", param="card")
    await assert_unfunded(client, m, iid, "INITIATED")

    r = await pay_by_card(client, iid, card=card("5555555555554444"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    paid = (await get_intent(client, m, iid))["data"]  # the payer got the public view
    assert paid["fiatPaymentStatus"] == "succeeded"
    assert paid["lastPaymentError"] is None
    await assert_funded_once(client, m, iid)
    assert await status_changes(client, m, iid) == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
    ]
    await audit_clean(app)


async def test_insufficient_funds_card(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await pay_by_card(client, iid, card=card("4000000000009995"))
    assert_error(r, 400, "insufficient_funds", "Your card has insufficient funds.", param="card")
    await assert_unfunded(client, m, iid, "INITIATED")
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    await assert_funded_once(client, m, iid)


async def test_expired_card_fails_validation_and_changes_nothing(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    for expiry in ("01/20", "12/23"):
        r = await pay_by_card(client, iid, card=card("4242424242424242", expiry=expiry))
        assert_error(r, 400, "invalid_request", "Your card has expired.", param="card.expiry")
    await assert_unfunded(client, m, iid, "INITIATED")
    assert await status_changes(client, m, iid) == []

    # A card expiring this month is still valid.
    this_month = time.strftime("%m/%y", time.gmtime())
    r = await pay_by_card(client, iid, card=card("4242424242424242", expiry=this_month))
    assert r.status_code == 200, r.text
    await assert_funded_once(client, m, iid)


@pytest.mark.parametrize(
    "number",
    [
        "1234",
        "4242-4242-4242-4242",
        "42424242424242424242",
        "4242424242424241",
        "\uff14" * 16,
        4242424242424242,
    ],
)
async def test_invalid_card_number(client, app, make_merchant, number):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await pay_by_card(client, iid, card=card(number))  # type: ignore[arg-type]
    assert_error(r, 400, "invalid_card", "Your card number is invalid.", param="card.cardNumber")
    await assert_unfunded(client, m, iid, "INITIATED")


async def test_paying_twice_funds_once(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    r = await pay_by_card(client, iid, card=card("5555555555554444"))
    assert_error(
        r, 400, "invalid_state_transition", "Cannot transition from SUCCEEDED to PROCESSING"
    )
    await assert_funded_once(client, m, iid)
    intent = await get_intent(client, m, iid)
    assert intent["status"] == "SUCCEEDED"
    assert intent["data"]["cardLast4"] == "4242"  # the refused payment left no trace
    await audit_clean(app)


async def test_concurrent_payments_fund_once(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    answers = await asyncio.gather(*(pay_by_card(client, iid) for _ in range(4)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 400, 400, 400], [r.text for r in answers]
    for r in answers:
        if r.status_code == 400:
            assert_error(
                r, 400, "invalid_state_transition", "Cannot transition from SUCCEEDED to PROCESSING"
            )
    await assert_funded_once(client, m, iid)
    await audit_clean(app)


async def test_canceled_or_unknown_intent_cannot_be_paid(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.post(cancel_url(iid), headers=m.headers)
    assert r.status_code == 200, r.text
    r = await pay_by_card(client, iid)
    assert_error(
        r, 400, "invalid_state_transition", "Cannot transition from CANCELED to PROCESSING"
    )
    await assert_unfunded(client, m, iid, "CANCELED")
    r = await pay_by_card(client, "intent_doesnotexist")
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_doesnotexist")


# --- Wallet rail ---------------------------------------------------------------------------


async def confirm(
    client: httpx.AsyncClient,
    m: Any,
    intent: dict[str, Any],
    signer: Any,
    payer_address: str | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "signature": sign(intent["data"]["typedData"], signer),
        "payerAddress": payer_address or signer.address,
        **extra,
    }
    return await client.post(confirm_url(intent["id"]), json=body, headers=m.headers)


async def submit_hash(client: httpx.AsyncClient, intent_id: str, tx_hash: Any) -> httpx.Response:
    return await client.post(
        transaction_hash_url(intent_id),
        json={"transactionHash": tx_hash},
    )


async def test_wallet_confirm_then_transaction_hash_funds(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    intent = await create_intent(client, m)
    iid = intent["id"]
    r = await confirm(client, m, intent, payer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "PROCESSING"
    assert body["data"]["signerAddress"] == payer.address
    assert body["data"]["signature"].startswith("0x") and len(body["data"]["signature"]) == 132
    assert body["data"]["transactionHash"] is None
    # Signed, not yet paid: no money anywhere.
    assert await ledger_entries(client, m, paymentIntentId=iid) == []
    assert (await balance(client, m))["reservedBalance"] == ZERO

    # Confirming again is a state error, not a second PROCESSING.
    r = await confirm(client, m, intent, payer)
    assert_error(
        r, 400, "invalid_state_transition", "Cannot confirm payment intent in status: PROCESSING"
    )

    r = await submit_hash(client, iid, TX_HASH.upper().replace("0X", "0x"))  # no key needed
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    assert (await get_intent(client, m, iid))["data"]["transactionHash"] == TX_HASH
    await assert_funded_once(client, m, iid)
    order = await escrow(client, m, iid)
    assert order["buyerAddress"] == payer.address
    assert await status_changes(client, m, iid) == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
    ]
    phases = {p["phase"]: p["status"] for p in r.json()["data"]["phases"]}
    assert phases["SIGNATURE_VERIFICATION"] == "COMPLETED"
    assert phases["BLOCKCHAIN_CONFIRMATION"] == "COMPLETED"
    assert phases["ESCROW_LOCKED"] == "COMPLETED"
    await audit_clean(app)


async def test_wallet_confirm_with_hash_in_one_call(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    intent = await create_intent(client, m)
    r = await confirm(client, m, intent, payer, transactionHash=TX_HASH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    await assert_funded_once(client, m, intent["id"])


async def test_wrong_signer_is_refused(client, app, make_merchant):
    m = await make_merchant()
    payer, stranger = Account.create(), Account.create()
    intent = await create_intent(client, m)
    iid = intent["id"]
    # Signed by someone else than the claimed payer.
    r = await confirm(client, m, intent, stranger, payer_address=payer.address)
    assert_error(
        r, 400, "signature_verification_failed", "Signature verification failed", param="signature"
    )
    # Signed by the payer, but over other data (another intent's typed data).
    other = await create_intent(client, m)
    r = await client.post(
        confirm_url(iid),
        headers=m.headers,
        json={"signature": sign(other["data"]["typedData"], payer), "payerAddress": payer.address},
    )
    assert_error(r, 400, "signature_verification_failed", "Signature verification failed")
    # Well-formed but unrecoverable bytes.
    r = await client.post(
        confirm_url(iid),
        headers=m.headers,
        json={"signature": "0x" + "00" * 65, "payerAddress": payer.address},
    )
    assert_error(r, 400, "signature_verification_failed", "Signature verification failed")
    await assert_unfunded(client, m, iid, "INITIATED")
    intent_now = await get_intent(client, m, iid)
    assert intent_now["data"]["signerAddress"] is None and intent_now["data"]["signature"] is None
    # The right signature still works afterwards.
    r = await confirm(client, m, intent, payer)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["signerAddress"] == payer.address


async def test_confirm_needs_the_owner_key(client, app, make_merchant):
    m, other = await make_merchant(), await make_merchant("Other Shop")
    payer = Account.create()
    intent = await create_intent(client, m)
    r = await confirm(client, other, intent, payer)
    assert_error(
        r,
        403,
        "forbidden",
        "You do not have access to this payment intent",
        type_="authentication_error",
    )
    r = await client.post(
        confirm_url(intent["id"]),
        json={"signature": sign(intent["data"]["typedData"], payer), "payerAddress": payer.address},
    )
    assert_error(
        r, 401, "authentication_required", "API key is required", type_="authentication_error"
    )
    await assert_unfunded(client, m, intent["id"], "INITIATED")


@pytest.mark.parametrize(
    "bad",
    [
        "ab" * 32,
        "0x" + "ab" * 31 + "a",
        "0x" + "ab" * 33,
        "0x" + "zz" * 32,
        "0x",
        "",
        "0x" + "ab" * 32 + " ",
        12345,
        None,
    ],
)
async def test_malformed_transaction_hash(client, app, make_merchant, bad):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await submit_hash(client, iid, bad)
    assert_error(
        r,
        400,
        "invalid_transaction_hash",
        "Transaction hash must be a valid 64-character hex string with 0x prefix",
        param="transactionHash",
    )
    await assert_unfunded(client, m, iid, "INITIATED")
    assert (await get_intent(client, m, iid))["data"]["transactionHash"] is None


async def test_transaction_hash_is_set_once(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    intent = await create_intent(client, m)
    iid = intent["id"]
    assert (await confirm(client, m, intent, payer)).status_code == 200
    r = await submit_hash(client, iid, TX_HASH)
    assert r.status_code == 200 and r.json()["status"] == "SUCCEEDED", r.text
    first = r.json()
    events_before = await list_all(client, m, events_url())

    r = await submit_hash(client, iid, OTHER_HASH)
    assert_error(
        r,
        400,
        "transaction_hash_exists",
        "Transaction hash already set for this payment intent",
        param="transactionHash",
    )

    r = await submit_hash(client, iid, TX_HASH)  # the same hash again: 200, nothing new
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    assert (await get_intent(client, m, iid))["data"]["transactionHash"] == TX_HASH
    assert r.json()["updated"] == first["updated"]
    assert await list_all(client, m, events_url()) == events_before
    await assert_funded_once(client, m, iid)
    await audit_clean(app)


async def test_transaction_hash_without_confirm_funds_without_payer(client, app, make_merchant):
    """The frontend may report the hash directly (the docs' flow); the order then has
    no payer address (approvals impossible), but the money is in escrow."""
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await submit_hash(client, iid, TX_HASH)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    await assert_funded_once(client, m, iid)
    assert (await escrow(client, m, iid))["buyerAddress"] is None
    assert await status_changes(client, m, iid) == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
    ]


async def test_card_paid_intent_refuses_a_transaction_hash(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    r = await submit_hash(client, iid, TX_HASH)
    assert_error(
        r,
        400,
        "invalid_state",
        "Cannot update transaction hash: payment intent is already processed",
    )
    await assert_funded_once(client, m, iid)


async def test_sandbox_chain_delay_keeps_processing_until_the_job_is_due(
    client, app, make_merchant, db_url
):
    from escrowgate.app import create_app

    slow_settings = Settings(
        database_url=db_url,
        rate_limit_enabled=False,
        run_worker_in_process=False,
        sandbox_chain_delay_seconds=5,
        off_ramp_mock_delay_seconds=0,
        log_level="WARNING",
    )
    slow_app = create_app(slow_settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=slow_app), base_url="http://testserver"
        ) as slow:
            m = await make_merchant()
            payer = Account.create()
            intent = await create_intent(slow, m)
            iid = intent["id"]
            assert (await confirm(slow, m, intent, payer)).status_code == 200
            r = await submit_hash(slow, iid, TX_HASH)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "PROCESSING"
            assert (await get_intent(client, m, iid))["data"]["transactionHash"] == TX_HASH
            jobs = await db_execute(
                app,
                "SELECT id, status, due_at FROM jobs WHERE kind = 'chain_confirm' "
                "AND target_id = :iid",
                iid=iid,
            )
            assert len(jobs) == 1 and jobs[0][1] == "PENDING"
            assert jobs[0][2] >= int(time.time()) + 3

            # Not due yet: a worker pass changes nothing.
            await slow_app.state.run_due_jobs()
            assert (await get_intent(client, m, iid))["status"] == "PROCESSING"
            assert await ledger_entries(client, m, paymentIntentId=iid) == []
            assert (await balance(client, m))["reservedBalance"] == ZERO

            await db_execute(
                app,
                "UPDATE jobs SET due_at = :t WHERE id = :id",
                t=int(time.time()) - 1,
                id=jobs[0][0],
            )
            await slow_app.state.run_due_jobs()
            assert (await get_intent(client, m, iid))["status"] == "SUCCEEDED"
            await assert_funded_once(client, m, iid)
            done = await db_execute(
                app, "SELECT status, attempts FROM jobs WHERE id = :id", id=jobs[0][0]
            )
            assert [tuple(r) for r in done] == [("DONE", 1)]

            # A second pass (or the hash again) funds nothing more.
            await run_worker(app)
            assert (await submit_hash(slow, iid, TX_HASH)).status_code == 200
            await assert_funded_once(client, m, iid)
            await audit_clean(app)
    finally:
        await slow_app.state.engine.dispose()


# --- Live mode -------------------------------------------------------------------------


async def test_live_mode_refuses_the_sandbox_rails(client, app, make_merchant):
    m = await make_merchant(mode="live")
    payer = Account.create()
    intent = await create_intent(client, m)
    iid = intent["id"]
    assert intent["data"]["livemode"] is True
    message = "Sandbox funding rails are not available in live mode"
    r = await pay_by_card(client, iid)
    assert_error(r, 400, "live_mode_unsupported", message)
    r = await submit_hash(client, iid, TX_HASH)
    assert_error(r, 400, "live_mode_unsupported", message)
    r = await confirm(client, m, intent, payer)
    assert_error(r, 400, "live_mode_unsupported", message)
    r = await confirm(client, m, intent, payer, transactionHash=TX_HASH)
    assert_error(r, 400, "live_mode_unsupported", message)
    intent_now = await get_intent(client, m, iid)
    assert intent_now["status"] == "INITIATED"
    assert intent_now["data"]["transactionHash"] is None
    assert await ledger_entries(client, m) == []
    r = await client.get(balance_url(), headers=m.headers)
    assert r.status_code == 200 and r.json()["livemode"] is True
    assert r.json()["data"]["balances"] == []


# --- CONDITIONAL: paid straight to the merchant -------------------------------------------


@pytest.mark.parametrize("type_", ["CONDITIONAL", "CONSENTED_PULL"])
async def test_conditional_intent_pays_the_merchant_directly(client, app, make_merchant, type_):
    m = await make_merchant()
    # An escrowed intent of the same merchant: its reserved money must not move.
    dvp = (await create_intent(client, m, amount="200.00"))["id"]
    assert (await pay_by_card(client, dvp)).status_code == 200
    before = await balance(client, m)
    assert before["reservedBalance"] == Decimal("200.00")
    assert before["availableBalance"] == ZERO

    intent = await create_intent(client, m, amount="125.50", type=type_, metadata={"order": "7"})
    iid = intent["id"]
    assert intent["data"]["type"] == "CONDITIONAL"
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SETTLED"  # settlement delay 0 in tests
    assert (await get_intent(client, m, iid))["data"]["settlementStatus"] == "COMPLETED"

    after = await balance(client, m)
    assert after["reservedBalance"] == Decimal("200.00")
    assert after["pendingBalance"] == ZERO
    assert after["availableBalance"] == Decimal("125.50")
    assert after["totalBalance"] == Decimal("325.50")

    entries = await ledger_entries(client, m, paymentIntentId=iid)
    txns = transactions(entries)
    assert kinds(entries) == ["FUND", "SETTLE"]
    legs = {
        legs[0]["transactionType"]: {e["account"]: Decimal(e["amount"]) for e in legs}
        for legs in txns.values()
    }
    assert legs["FUND"] == {"merchant_pending": Decimal("125.50"), "payer": Decimal("-125.50")}
    assert legs["SETTLE"] == {
        "merchant_settled": Decimal("125.50"),
        "merchant_pending": Decimal("-125.50"),
    }
    assert all(e["conditionalPaymentId"] is None for e in entries)
    assert "escrow" not in {e["account"] for e in entries}

    assert await status_changes(client, m, iid) == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
        ("SUCCEEDED", "SETTLED"),
    ]
    for path in ("escrow", "conditional-payment"):
        r = await client.get(order_url(iid, spelling=path), headers=m.headers)
        assert_error(r, 400, "invalid_request", "Payment intent is not of type DELIVERY_VS_PAYMENT")
    r = await pay_by_card(client, iid)
    assert_error(r, 400, "invalid_state_transition", "Cannot transition from SETTLED to PROCESSING")
    assert await balance(client, m) == after
    await audit_clean(app)


async def test_conditional_payment_pending_until_the_settlement_job(
    client, app, make_merchant, db_url
):
    """With a settlement delay the money waits in pendingBalance (intent SUCCEEDED)
    until the settle job is due; then it is available and the intent SETTLED."""
    from escrowgate.app import create_app

    slow_settings = Settings(
        database_url=db_url,
        rate_limit_enabled=False,
        run_worker_in_process=False,
        sandbox_chain_delay_seconds=0,
        off_ramp_mock_delay_seconds=30,
        log_level="WARNING",
    )
    slow_app = create_app(slow_settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=slow_app), base_url="http://testserver"
        ) as slow:
            m = await make_merchant()
            iid = (await create_intent(slow, m, amount="80.00", type="CONDITIONAL", metadata=None))[
                "id"
            ]
            r = await pay_by_card(slow, iid)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "SUCCEEDED"
            assert (await get_intent(client, m, iid))["data"]["settlementStatus"] == "IN_PROGRESS"
            b = await balance(client, m)
            assert (b["pendingBalance"], b["availableBalance"]) == (Decimal("80.00"), ZERO)
            assert kinds(await ledger_entries(client, m)) == ["FUND"]

            await slow_app.state.run_due_jobs()  # not due yet
            assert (await get_intent(client, m, iid))["status"] == "SUCCEEDED"
            jobs = await db_execute(
                app,
                "SELECT id FROM jobs WHERE kind = 'settle' "
                "AND merchant_id = :mid AND status = 'PENDING'",
                mid=m.id,
            )
            assert len(jobs) == 1
            await db_execute(
                app,
                "UPDATE jobs SET due_at = :t WHERE id = :id",
                t=int(time.time()) - 1,
                id=jobs[0][0],
            )
            await slow_app.state.run_due_jobs()
            intent = await get_intent(client, m, iid)
            assert intent["status"] == "SETTLED"
            assert intent["data"]["settlementStatus"] == "COMPLETED"
            b = await balance(client, m)
            assert (b["pendingBalance"], b["availableBalance"]) == (ZERO, Decimal("80.00"))
            assert kinds(await ledger_entries(client, m)) == ["FUND", "SETTLE"]
            await slow_app.state.run_due_jobs()
            assert kinds(await ledger_entries(client, m)) == ["FUND", "SETTLE"]
            assert await status_changes(client, m, iid) == [
                ("INITIATED", "PROCESSING"),
                ("PROCESSING", "SUCCEEDED"),
                ("SUCCEEDED", "SETTLED"),
            ]
            await audit_clean(app)
    finally:
        await slow_app.state.engine.dispose()
