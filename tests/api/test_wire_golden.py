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

from tests.support.driver import GOOD_CARD, intent_body, run_worker, sign

GOLDEN = Path(__file__).with_name("wire_golden.json")
# A fixed payer: its address is the same in every run.
PAYER = Account.from_key("0x" + "11" * 32)
PROOF = {
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
    v1 = "/v1/payment-intents"

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
    a = (await post("create dvp", v1, intent_body(metadata=meta)))["id"]
    await public("public get unfunded", f"{v1}/public/{a}")
    mids = []
    plan = ((0, "Start", "300.00", 30), (1, "Mid", "333.33", 33.33), (2, "End", "366.67", 36.67))
    for index, desc, amount, pct in plan:
        body = {"milestoneIndex": index, "description": desc, "amount": amount, "percentage": pct}
        mids.append((await post("milestone create", f"{v1}/{a}/escrow/milestones", body))["id"])
    await get("milestone list", f"{v1}/{a}/escrow/milestones")
    await get("milestone get", f"{v1}/{a}/escrow/milestones/{mids[0]}")
    declined = {"card": dict(GOOD_CARD, cardNumber="4000000000000002")}
    await public("card declined", f"{v1}/public/{a}/payment", declined)
    paid = {"card": GOOD_CARD, "payerAddress": PAYER.address}
    await public("card paid", f"{v1}/public/{a}/payment", paid)
    await public("public get funded", f"{v1}/public/{a}")
    done = await post(
        "milestone complete",
        f"{v1}/{a}/escrow/milestones/{mids[0]}/complete",
        {"completedBy": "0x" + "ab" * 20, "completionProof": "done"},
    )
    await post(
        "milestone approve",
        f"{v1}/{a}/escrow/milestones/{mids[0]}/approve",
        {"signature": sign(done["data"]["approvalTypedData"], PAYER)},
    )
    await get("intent get", f"{v1}/{a}")
    await get("escrow get", f"{v1}/{a}/escrow")
    await get("conditional-payment get", f"{v1}/{a}/conditional-payment")

    # B: CONDITIONAL, wallet-funded: confirm, then the transaction hash.
    wallet = {
        "amount": "25",
        "currency": "USDC",
        "type": "CONDITIONAL",
        "settlementMethod": "OFF_RAMP_MOCK",
        "settlementDestination": "acct_1",
    }
    b = await post("create conditional", v1, wallet, key="golden-b")
    await post("create replay", v1, wallet, key="golden-b")
    await post(
        "confirm",
        f"{v1}/{b['id']}/confirm",
        {"signature": sign(b["data"]["typedData"], PAYER), "payerAddress": PAYER.address},
    )
    await public(
        "transaction hash",
        f"{v1}/public/{b['id']}/transaction-hash",
        {"transactionHash": "0x" + "12" * 32},
    )
    await run_worker(app)
    await get("intent get wallet", f"{v1}/{b['id']}")

    # C: delivery proof, then payer approval.
    c = (await post("create c", v1, intent_body(metadata={"releaseType": "DELIVERY_PROOF"})))["id"]
    await public("card paid c", f"{v1}/public/{c}/payment", paid)
    await post("delivery proof", f"{v1}/{c}/escrow/delivery-proof", PROOF)
    order = await get("escrow delivered", f"{v1}/{c}/escrow")
    await post(
        "escrow approve",
        f"{v1}/{c}/conditional-payment/approve",
        {"signature": sign(order["data"]["approvalTypedData"], PAYER)},
    )

    # D: a dispute, raised and resolved (the merchant concedes).
    d = (await post("create d", v1, intent_body(metadata={"releaseType": "DELIVERY_PROOF"})))["id"]
    await public("card paid d", f"{v1}/public/{d}/payment", paid)
    await post(
        "dispute raise",
        f"{v1}/{d}/escrow/dispute",
        {"reason": "Not delivered", "raisedBy": "buyer", "disputeWindow": "86400"},
    )
    await get("escrow disputed", f"{v1}/{d}/escrow")
    await post("dispute resolve", f"{v1}/{d}/escrow/dispute/resolve", {"resolution": "BUYER_WON"})

    # E: refunds, partial then the rest.
    e = (await post("create e", v1, intent_body(metadata={"releaseType": "DELIVERY_PROOF"})))["id"]
    await public("card paid e", f"{v1}/public/{e}/payment", paid)
    await post("refund partial", f"{v1}/{e}/refund", {"amount": "100.00", "reason": "partial"})
    rec.add("refund rest", await client.post(f"{v1}/{e}/refund", headers=headers))

    # F: the test clock releases a delivered order when the window passes.
    f = (await post("create f", v1, intent_body(metadata={"releaseType": "DELIVERY_PROOF"})))["id"]
    await public("card paid f", f"{v1}/public/{f}/payment", paid)
    await post("delivery proof f", f"{v1}/{f}/escrow/delivery-proof", PROOF)
    await post(
        "advance clock",
        f"/v1/test_helpers/payment-intents/{f}/advance_clock",
        {"seconds": 8 * 86_400},
    )

    # G: cancelled before funding.
    g = (await post("create g", v1, intent_body(type="CONDITIONAL", metadata=None)))["id"]
    await post("cancel", f"{v1}/{g}/cancel")

    await get("balance", "/v1/account/balance")
    await get("balance alias", "/api/v1/payment-intents/account/balance")
    await get("ledger entries", "/v1/account/ledger-entries", params={"limit": 100})
    await get("ledger page", "/v1/account/ledger-entries", params={"limit": 2})
    events = await get("events", "/v1/events", params={"limit": 100})
    await get("event get", f"/v1/events/{events['data'][-1]['id']}")
    await get("intents", v1, params={"limit": 100})
    await get("intents filtered", v1, params={"limit": 1, "type": "CONDITIONAL"})
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
