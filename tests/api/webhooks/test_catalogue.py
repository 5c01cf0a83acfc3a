"""The event catalogue: the documented payment events are produced, and
docs/webhooks.md lists every type the code knows."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from escrowgate.events.catalogue import EVENT_TYPES
from tests.support.driver import Merchant, create_intent, events_url, transaction_hash_url

TX = "0x" + secrets.token_hex(32)  # a chain transaction funds one intent in the database


async def test_chain_and_settlement_events_are_emitted(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    intent = await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    r = await client.post(
        transaction_hash_url(intent["id"]),
        json={"transactionHash": TX},
    )
    assert r.status_code == 200, r.text
    r = await client.get(events_url(), params={"limit": 100}, headers=merchant.headers)
    types = [e["type"] for e in reversed(r.json()["data"])]
    for expected in (
        "payment_intent.blockchain_tx_submitted",
        "payment_intent.blockchain_tx_confirmed",
        "payment_intent.settlement_initiated",
        "payment_intent.settlement_completed",
    ):
        assert expected in types, types
    assert types.index("payment_intent.blockchain_tx_submitted") < types.index(
        "payment_intent.blockchain_tx_confirmed"
    ) < types.index("payment_intent.settlement_initiated") < types.index(
        "payment_intent.settlement_completed"
    )


def test_docs_list_every_event_type() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text()
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in doc]
    assert missing == []
