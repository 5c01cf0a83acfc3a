"""`escrowgate webhooks listen` and `escrowgate webhooks trigger`: developer tools
that talk to a running escrowgate over its public API with a merchant key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from . import signing

CARD = {"cardNumber": "4242424242424242", "expiry": "12/39", "cvv": "123", "name": "Test Payer"}
INTENT = {
    "amount": "100.00",
    "currency": "USDC",
    "type": "DELIVERY_VS_PAYMENT",
    "settlementMethod": "OFF_RAMP_MOCK",
    "settlementDestination": "test_account_123",
    "description": "escrowgate webhooks trigger",
}


class Api:
    def __init__(self, client: httpx.Client) -> None:
        self.c = client

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.c.post("/v1" + path, json=body if body is not None else {})
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return dict(r.json())

    def intent(self, **over: Any) -> str:
        return str(self.post("/payment-intents", {**INTENT, **over})["id"])

    def pay(self, intent_id: str) -> str:
        """Pay by test card; the payer's client secret."""
        paid = self.post(f"/payment-intents/public/{intent_id}/payment", {"card": CARD})
        return str(paid.get("clientSecret", ""))

    def milestone_intent(self, auto_release: bool) -> tuple[str, str]:
        iid = self.intent(metadata={"releaseType": "MILESTONE_LOCKED"}, autoRelease=auto_release)
        mid = self.post(
            f"/payment-intents/{iid}/escrow/milestones", {"milestoneIndex": 0, "amount": "40.00"}
        )["id"]
        return iid, str(mid)


def _created(api: Api) -> None:
    api.intent()


def _paid(api: Api) -> None:
    api.pay(api.intent())


def _milestone(api: Api) -> None:
    api.milestone_intent(False)


def _completed(api: Api) -> None:
    iid, mid = api.milestone_intent(True)
    api.pay(iid)
    api.post(f"/payment-intents/{iid}/escrow/milestones/{mid}/complete", {"completedBy": "cli"})


def _chain(api: Api) -> None:
    iid = api.intent(type="CONDITIONAL")
    tx = "0x" + secrets.token_hex(32)  # a transaction funds one intent: a new one each time
    api.post(f"/payment-intents/public/{iid}/transaction-hash", {"transactionHash": tx})


def _approved(api: Api) -> None:
    """The payer approves a completed milestone with the client secret paying gave."""
    iid, mid = api.milestone_intent(False)
    secret = api.pay(iid)
    api.post(f"/payment-intents/{iid}/escrow/milestones/{mid}/complete", {"completedBy": "cli"})
    r = api.c.post(
        f"/v1/payment-intents/public/{iid}/milestones/{mid}/approve",
        headers={"X-Client-Secret": secret},  # the merchant key beside it is ignored
    )
    if r.status_code >= 300:
        raise RuntimeError(f"approve: {r.status_code} {r.text}")


def _released_in_full(api: Api) -> None:
    """autoRelease: the delivery proof releases everything held."""
    iid = api.intent(metadata={"releaseType": "DELIVERY_PROOF"}, autoRelease=True)
    api.pay(iid)
    api.post(
        f"/payment-intents/{iid}/escrow/delivery-proof",
        {"proofHash": "0x" + "cd" * 32, "submittedBy": "0x" + "11" * 20},
    )


def _time_lock(api: Api) -> None:
    until = int(time.time()) + 3600
    iid = api.intent(metadata={"releaseType": "TIME_LOCKED", "timeLockUntil": until})
    api.pay(iid)
    api.post(f"/test_helpers/payment-intents/{iid}/advance_clock", {"seconds": 7200})


def _order_cancelled(api: Api) -> None:
    iid, _ = api.milestone_intent(False)
    api.post(f"/payment-intents/{iid}/cancel")


def _cancelled(api: Api) -> None:
    iid, _ = api.milestone_intent(False)
    api.pay(iid)
    api.post(f"/payment-intents/{iid}/refund", {})


def _proof(api: Api) -> None:
    iid = api.intent()
    api.pay(iid)
    api.post(
        f"/payment-intents/{iid}/escrow/delivery-proof",
        {"proofHash": "0x" + "cd" * 32, "submittedBy": "0x" + "11" * 20},
    )


def _dispute(api: Api, resolve: bool) -> None:
    iid = api.intent()
    api.pay(iid)
    api.post(
        f"/payment-intents/{iid}/escrow/dispute",
        {"reason": "sample dispute", "raisedBy": "0x" + "22" * 20},
    )
    if resolve:
        api.post(f"/payment-intents/{iid}/escrow/dispute/resolve", {"resolution": "BUYER_WON"})


def _refund(api: Api) -> None:
    iid = api.intent()
    api.pay(iid)
    api.post(f"/payment-intents/{iid}/refund", {"amount": "10.00"})


# Event type -> the API calls that make it happen (each makes a few other events too).
TRIGGERS: dict[str, Callable[[Api], None]] = {
    "payment_intent.created": _created,
    "payment_intent.status_changed": _paid,
    "escrow_order.created": _created,
    "milestone.created": _milestone,
    "milestone.completed": _completed,
    "milestone.released": _completed,
    "escrow_order.released": _released_in_full,
    "milestone.approved": _approved,
    "time_lock.released": _time_lock,
    "payment_intent.settlement_initiated": _completed,
    "payment_intent.settlement_completed": _completed,
    "payment_intent.blockchain_tx_submitted": _chain,
    "payment_intent.blockchain_tx_confirmed": _chain,
    "milestone.cancelled": _cancelled,
    "escrow_order.cancelled": _order_cancelled,
    "refund.created": _refund,
    "delivery_proof.submitted": _proof,
    "dispute.raised": lambda api: _dispute(api, False),
    "dispute.resolved": lambda api: _dispute(api, True),
}


def trigger(base_url: str, api_key: str, event_type: str) -> list[str]:
    """Run the calls that make `event_type`; answer the types of the events made."""
    if not api_key.startswith(("sk_test_", "sk_hackathon_")):
        raise ValueError("trigger needs a test-mode key (sk_test_... or sk_hackathon_...)")
    if event_type not in TRIGGERS:
        raise ValueError(
            f"trigger cannot make {event_type}; it can make: " + ", ".join(sorted(TRIGGERS))
        )
    with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}, timeout=30) as c:
        newest = c.get("/v1/events", params={"limit": 1}).json()["data"]
        TRIGGERS[event_type](Api(c))
        params: dict[str, Any] = {"limit": 100}
        if newest:
            params["ending_before"] = newest[0]["id"]
        made = c.get("/v1/events", params=params).json()["data"]
    return [e["type"] for e in made]


async def listen(
    base_url: str,
    api_key: str,
    forward_to: str,
    secret: str,
    *,
    poll_seconds: float = 1.0,
    out: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Forward every new event (from now on) to `forward_to`, signed with `secret`."""
    stop = stop or asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key}, timeout=30) as api,
        httpx.AsyncClient(timeout=10) as receiver,
    ):
        r = await api.get("/v1/events", params={"limit": 1})
        r.raise_for_status()
        last = r.json()["data"][0]["id"] if r.json()["data"] else None
        out(f"Ready. Forwarding events to {forward_to}; signing secret: {secret}")
        while not stop.is_set():
            params: dict[str, Any] = {"limit": 100}
            if last:
                params["ending_before"] = last
            page = (await api.get("/v1/events", params=params)).json()["data"]
            for event in reversed(page):  # newest first: send oldest first
                body = json.dumps(event, separators=(",", ":")).encode()
                headers = signing.signature_headers(
                    [secret], body, "msg_listen_" + event["id"], int(time.time())
                )
                try:
                    answer = await receiver.post(forward_to, content=body, headers=headers)
                    status = str(answer.status_code)
                except httpx.HTTPError as exc:
                    status = f"error {type(exc).__name__}"
                out(f"{event['type']} [{event['id']}] -> {forward_to} [{status}]")
                last = event["id"]
            if not page:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)
