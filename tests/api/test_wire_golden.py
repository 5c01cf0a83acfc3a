"""The JSON on the wire, byte for byte: one walk through every success answer
(intents, card and wallet funding, milestones, delivery, disputes, refunds, the
test clock, balance, ledger, events, lists, an idempotent replay), its raw bytes
normalised only where they are random or time-dependent (ids, timestamps, hashes,
addresses, signatures), compared with tests/api/wire_golden.json. Key order, key
presence, null, int vs float and string amounts are all in those bytes.

Regenerate (only for an intended wire change): UPDATE_WIRE_GOLDEN=1 pytest this file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from tests.support.driver import (
    API_ALIAS,
    DECLINED_CARD_NUMBER,
    GOOD_CARD,
    ORDER_ALIAS,
    advance_clock_url,
    approve_url,
    balance_url,
    cancel_url,
    confirm_url,
    delivery_proof_url,
    dispute_url,
    event_url,
    events_url,
    intent_body,
    intent_url,
    intents_url,
    ledger_url,
    milestone_url,
    milestones_url,
    order_url,
    payment_url,
    public_intent_url,
    refund_url,
    resolve_url,
    run_worker,
    sign,
    transaction_hash_url,
)

GOLDEN = Path(__file__).with_name("wire_golden.json")
# A fixed payer: its address is the same in every run.
PAYER = Account.from_key("0x" + "11" * 32)
# Not the driver's PROOF (nor its PROOF_WITH_URI): these values are what the golden
# file was recorded with, and the golden bytes must not change with the driver's.
GOLDEN_PROOF = {
    "proofHash": "0x" + "ab" * 32,
    "submittedBy": "0x" + "cd" * 20,
    "proofURI": "ipfs://QmProof",
}
_ID = re.compile(
    r"\b(intent|conditional_payment|milestone|delivery_proof|dispute|refund|evt|le|ltx|"
    r"merchant|key|settlement|job)_[0-9a-f]{44}\b"
)
_SECRET = re.compile(r"\bintent_[0-9a-f]{44}_secret_[0-9a-f]{48}\b")
_SUBS = [
    (re.compile(r"0x[0-9a-f]{130}\b"), "<sig>"),
    (re.compile(r"0x[0-9a-f]{64}\b"), "<bytes32>"),
    (re.compile(r"\b(or|ch)_[0-9a-f]{20,24}\b"), r"\1_<hex>"),
    (re.compile(r'"orderId":"[0-9]+"'), '"orderId":"<n>"'),
    (re.compile(r"OFFRAMP_MOCK-[0-9a-z]+-[0-9a-f]+"), "OFFRAMP_MOCK-<tx>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"), "<iso>"),
    (re.compile(r"\b1[5-9]\d{8}\b"), "<unix>"),
    (re.compile(r"\breq_[0-9a-f]{32}\b"), "<request-id>"),
]


class Recorder:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.answers: list[list[Any]] = []

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match.group(0), f"{match.group(1)}#{len(self.ids) + 1}")

    def normalise(self, text: str) -> str:
        text = _SECRET.sub("<client_secret>", text)
        text = _ID.sub(self._id, text)
        for pattern, repl in _SUBS:
            text = pattern.sub(repl, text)
        return text

    def add(self, label: str, r: httpx.Response) -> Any:
        self.answers.append([label, r.status_code, self.normalise(r.content.decode())])
        return r.json()


async def _walk(client: httpx.AsyncClient, app: Any, headers: dict[str, str]) -> list[list[Any]]:
    rec = Recorder()

    async def post(label: str, url: str, body: Any = None, key: str | None = None) -> Any:
        extra = {"Idempotency-Key": key} if key else {}
        return rec.add(label, await client.post(url, json=body, headers={**headers, **extra}))

    async def get(label: str, url: str, **kw: Any) -> Any:
        return rec.add(label, await client.get(url, headers=headers, **kw))

    async def public(label: str, url: str, body: Any = None) -> Any:
        if body is None:
            return rec.add(label, await client.get(url))
        return rec.add(label, await client.post(url, json=body))

    # A: DVP with a milestone plan, card-funded by a known payer.
    meta = {"releaseType": "MILESTONE_LOCKED", "ref": "A", "n": 1.5, "nested": {"x": [1, None]}}
    a = (await post("create dvp", intents_url(), intent_body(metadata=meta)))["id"]
    await public("public get unfunded", public_intent_url(a))
    mids = []
    plan = ((0, "Start", "300.00", 30), (1, "Mid", "333.33", 33.33), (2, "End", "366.67", 36.67))
    for index, desc, amount, pct in plan:
        body = {"milestoneIndex": index, "description": desc, "amount": amount, "percentage": pct}
        mids.append((await post("milestone create", milestones_url(a), body))["id"])
    await get("milestone list", milestones_url(a))
    await get("milestone get", milestone_url(a, mids[0]))
    declined = {"card": dict(GOOD_CARD, cardNumber=DECLINED_CARD_NUMBER)}
    await public("card declined", payment_url(a), declined)
    paid = {"card": GOOD_CARD, "payerAddress": PAYER.address}
    await public("card paid", payment_url(a), paid)
    await public("public get funded", public_intent_url(a))
    done = await post(
        "milestone complete",
        milestone_url(a, mids[0], "complete"),
        {"completedBy": "0x" + "ab" * 20, "completionProof": "done"},
    )
    await post(
        "milestone approve",
        milestone_url(a, mids[0], "approve"),
        {"signature": sign(done["data"]["approvalTypedData"], PAYER)},
    )
    await get("intent get", intent_url(a))
    await get("escrow get", order_url(a))
    await get("conditional-payment get", order_url(a, spelling=ORDER_ALIAS))

    # B: CONDITIONAL, wallet-funded: confirm, then the transaction hash.
    wallet = {
        "amount": "25",
        "currency": "USDC",
        "type": "CONDITIONAL",
        "settlementMethod": "OFF_RAMP_MOCK",
        "settlementDestination": "acct_1",
    }
    b = await post("create conditional", intents_url(), wallet, key="golden-b")
    await post("create replay", intents_url(), wallet, key="golden-b")
    await post(
        "confirm",
        confirm_url(b["id"]),
        {"signature": sign(b["data"]["typedData"], PAYER), "payerAddress": PAYER.address},
    )
    await public(
        "transaction hash",
        transaction_hash_url(b["id"]),
        {"transactionHash": "0x" + "12" * 32},
    )
    await run_worker(app)
    await get("intent get wallet", intent_url(b["id"]))

    # C: delivery proof, then payer approval.
    c = (
        await post(
            "create c", intents_url(), intent_body(metadata={"releaseType": "DELIVERY_PROOF"})
        )
    )["id"]
    await public("card paid c", payment_url(c), paid)
    await post("delivery proof", delivery_proof_url(c), GOLDEN_PROOF)
    order = await get("escrow delivered", order_url(c))
    await post(
        "escrow approve",
        approve_url(c, spelling=ORDER_ALIAS),
        {"signature": sign(order["data"]["approvalTypedData"], PAYER)},
    )

    # D: a dispute, raised and resolved (the merchant concedes).
    d = (
        await post(
            "create d", intents_url(), intent_body(metadata={"releaseType": "DELIVERY_PROOF"})
        )
    )["id"]
    await public("card paid d", payment_url(d), paid)
    await post(
        "dispute raise",
        dispute_url(d),
        {"reason": "Not delivered", "raisedBy": "buyer", "disputeWindow": "86400"},
    )
    await get("escrow disputed", order_url(d))
    await post("dispute resolve", resolve_url(d), {"resolution": "BUYER_WON"})

    # E: refunds, partial then the rest.
    e = (
        await post(
            "create e", intents_url(), intent_body(metadata={"releaseType": "DELIVERY_PROOF"})
        )
    )["id"]
    await public("card paid e", payment_url(e), paid)
    await post("refund partial", refund_url(e), {"amount": "100.00", "reason": "partial"})
    rec.add("refund rest", await client.post(refund_url(e), headers=headers))

    # F: the test clock releases a delivered order when the window passes.
    f = (
        await post(
            "create f", intents_url(), intent_body(metadata={"releaseType": "DELIVERY_PROOF"})
        )
    )["id"]
    await public("card paid f", payment_url(f), paid)
    await post("delivery proof f", delivery_proof_url(f), GOLDEN_PROOF)
    await post(
        "advance clock",
        advance_clock_url(f),
        {"seconds": 8 * 86_400},
    )

    # G: cancelled before funding.
    g = (await post("create g", intents_url(), intent_body(type="CONDITIONAL", metadata=None)))[
        "id"
    ]
    await post("cancel", cancel_url(g))

    await get("balance", balance_url())
    await get("balance alias", balance_url(API_ALIAS, under_intents=True))
    await get("ledger entries", ledger_url(), params={"limit": 100})
    await get("ledger page", ledger_url(), params={"limit": 2})
    events = await get("events", events_url(), params={"limit": 100})
    await get("event get", event_url(events["data"][-1]["id"]))
    await get("intents", intents_url(), params={"limit": 100})
    await get("intents filtered", intents_url(), params={"limit": 1, "type": "CONDITIONAL"})
    return rec.answers


async def test_wire_bytes_unchanged(client, app, make_merchant):
    m = await make_merchant("Golden Goods")
    answers = await _walk(client, app, m.headers)
    if os.environ.get("UPDATE_WIRE_GOLDEN"):
        GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert [a[0] for a in answers] == [g[0] for g in golden]
    for got, want in zip(answers, golden, strict=True):
        assert got == want, got[0]
