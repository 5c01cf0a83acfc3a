"""The hosted payment page's refused actions: each answers the page again, with the
reason, once the action's transaction has ended. (Rendered inside it, the page's own
read waited for the action's write lock on SQLite: 30 s, then a JSON 409, and every
other write of the database waited with it.) A refused action changes nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from eth_account import Account

from tests.support.driver import (
    GOOD_CARD,
    complete,
    create_intent,
    dvp,
    escrow,
    get_intent,
    intent_body,
    intents_url,
    milestone,
    pay_for_secret,
    planned,
    public_intent_url,
    sign,
)

CARD_FORM = {
    "card_number": GOOD_CARD["cardNumber"],
    "expiry": GOOD_CARD["expiry"],
    "cvv": GOOD_CARD["cvv"],
    "name": GOOD_CARD["name"],
}


def assert_page_error(r, status: int, message: str) -> None:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html"), r.headers
    shown = r.text.split('id="error">', 1)[1].split("</", 1)[0].strip()
    assert shown == html.escape(message), shown


async def test_paying_an_intent_already_paid_shows_the_reason(client, make_merchant):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF")  # paid by card once
    before = await get_intent(client, m, iid)
    r = await client.post(f"/pay/{iid}/card", data=CARD_FORM)
    assert_page_error(r, 400, "Cannot transition from SUCCEEDED to PROCESSING")
    assert await get_intent(client, m, iid) == before
    # The database takes other writes at once: the action's transaction is over.
    r = await client.post(intents_url(), json=intent_body(), headers=m.headers)
    assert r.status_code == 201, r.text


async def test_a_wallet_payment_with_a_bad_signature_shows_the_reason(client, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m, type="CONDITIONAL"))["id"]
    before = await get_intent(client, m, iid)
    form = {"signature": "0x" + "11" * 65, "payer_address": "0x" + "22" * 20}
    r = await client.post(f"/pay/{iid}/wallet", data=form)
    assert_page_error(r, 400, "Signature verification failed")
    assert await get_intent(client, m, iid) == before


async def test_approving_a_pending_milestone_shows_the_reason(client, make_merchant):
    m = await make_merchant()
    iid, mids, secret = await planned(client, m, ["400.00", "600.00"])
    r = await client.post(
        f"/pay/{iid}/milestones/{mids[0]}/approve", data={"client_secret": secret}
    )
    assert_page_error(r, 400, "Milestone must be COMPLETED to approve (status: PENDING)")
    assert (await milestone(client, m, iid, mids[0]))["status"] == "PENDING"
    # the same action, allowed, still works
    await complete(client, m, iid, mids[0])
    r = await client.post(
        f"/pay/{iid}/milestones/{mids[0]}/approve", data={"client_secret": secret}
    )
    assert r.status_code == 303, r.text[:500]
    assert (await milestone(client, m, iid, mids[0]))["status"] == "RELEASED"


@pytest.mark.parametrize("action", ["approve", "dispute"])
async def test_a_wrong_client_secret_shows_the_reason(client, make_merchant, action):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF", fund=False)
    await pay_for_secret(client, iid)
    before = await escrow(client, m, iid)
    form = {"client_secret": f"{iid}_secret_{'0' * 48}", "reason": "Not as agreed"}
    r = await client.post(f"/pay/{iid}/{action}", data=form)
    assert_page_error(r, 401, "Invalid client secret for this payment intent")
    assert await escrow(client, m, iid) == before


# --- what the pages show ----------------------------------------------------------------


@pytest.mark.parametrize("currency, wallet", [("USD", False), ("JPY", False), ("USDC", True)])
async def test_a_wallet_is_offered_only_where_it_can_pay(client, make_merchant, currency, wallet):
    """A wallet pays in stablecoins: the API refuses it on a fiat intent, so the page
    does not offer it there (a signature sent anyway is still refused)."""
    m = await make_merchant()
    amount = "1000" if currency == "JPY" else "1000.00"
    iid = (await create_intent(client, m, currency=currency, amount=amount))["id"]
    r = await client.get(f"/pay/{iid}")
    assert r.status_code == 200
    assert 'id="pay-card"' in r.text
    assert ('id="wallet-form"' in r.text) is wallet
    assert ("/static/wallet.js" in r.text) is wallet


async def test_the_receipt_reads_as_a_sentence(client, make_merchant):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF", fund=False)
    secret = await pay_for_secret(client, iid)
    assert "is paid by card ending 4242; it is held in escrow" in await receipt(client, iid, secret)
    # paid by a wallet: no card to name, and no space before the semicolon
    payer = Account.create()
    iid = await dvp(client, m, "DELIVERY_PROOF", fund=False)
    typed = (await client.get(public_intent_url(iid))).json()["data"]["typedData"]
    body = {"signature": sign(typed, payer), "payerAddress": payer.address}
    r = await client.post(public_intent_url(iid, "/confirm"), json=body)
    assert r.status_code == 200, r.text
    text = await receipt(client, iid, r.json()["clientSecret"])
    assert "is being confirmed; it is held in escrow" in text, text


async def receipt(client, iid: str, secret: str) -> str:
    r = await client.get(f"/pay/{iid}", params={"client_secret": secret, "paid": "1"})
    assert r.status_code == 200, r.text[:300]
    return " ".join(r.text.split('id="receipt"', 1)[1].split("</p>", 1)[0].split())


async def dashboard_page(app, m, path: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as b:
        login = await b.get("/dashboard")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf
        r = await b.post("/dashboard/login", data={"csrf": csrf.group(1), "key": m.key})
        assert r.status_code in (302, 303), r.text[:300]
        page = await b.get(path)
    assert page.status_code == 200, page.text[:300]
    return page.text


async def test_the_dashboard_shows_fiat_amounts_with_their_minor_units(app, client, make_merchant):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF", currency="JPY", amount="1000")
    home = await dashboard_page(app, m, "/dashboard")
    balances = home.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = re.findall(r'data-label="In escrow">([^<]*)<', balances)
    assert cells == ["1000"], balances
    intents_table = home.split("<tbody>", 2)[2].split("</tbody>", 1)[0]
    assert "1000 JPY" in intents_table and "1000.00" not in intents_table, intents_table
    detail = await dashboard_page(app, m, f"/dashboard/intents/{iid}")
    ledger = detail.split('class="hide-sm"', 1)[0]
    amounts = re.findall(r'<td class="num">([^<]*)</td>', detail)
    assert "1000" in amounts and "-1000" in amounts, amounts
    assert "1000.00" not in amounts, ledger[-500:]


async def test_the_dashboard_offers_a_refund_only_when_money_is_held(app, client, make_merchant):
    m = await make_merchant()
    unfunded = await dvp(client, m, "DELIVERY_PROOF", fund=False, currency="JPY", amount="1000")
    funded = await dvp(client, m, "DELIVERY_PROOF", currency="JPY", amount="1000")
    assert 'id="refund-amount"' not in await dashboard_page(
        app, m, f"/dashboard/intents/{unfunded}"
    )
    assert 'id="refund-amount"' in await dashboard_page(app, m, f"/dashboard/intents/{funded}")
