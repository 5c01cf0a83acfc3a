"""The payer's page, the payer link, the merchant dashboard, /docs offline and CORS
from another origin, in a real browser (Chromium via Playwright)."""

from __future__ import annotations

import http.server
import re
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.live_server import LiveServer, free_port
from tests.support.driver import (
    DECLINED_CARD_NUMBER,
    GOOD_CARD,
    intent_body,
    intent_url,
    intents_url,
    milestone_url,
    milestones_url,
    order_url,
    payment_url,
    public_intent_url,
)

from .conftest import shoot


async def new_intent(
    api: httpx.AsyncClient, amounts: list[str], **overrides: Any
) -> tuple[str, list[str]]:
    r = await api.post(intents_url(), json=intent_body(**overrides))
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    mids = []
    for index, amount in enumerate(amounts):
        body = {"milestoneIndex": index, "description": f"Phase {index + 1}", "amount": amount}
        m = await api.post(milestones_url(iid), json=body)
        assert m.status_code == 201, m.text
        mids.append(m.json()["id"])
    return iid, mids


async def fill_card(pg: Any, number: str) -> None:
    await pg.get_by_label("Card number").fill(number)
    await pg.get_by_label("Expiry (MM/YY)").fill("12/39")
    await pg.get_by_label("CVC").fill("123")
    await pg.get_by_label("Name on card").fill("Ada Payer")


async def test_pay_by_card_a_decline_then_a_good_card_then_the_receipt(
    page: Any, api: httpx.AsyncClient, live: LiveServer
) -> None:
    iid, _ = await new_intent(api, ["300.00", "700.00"])
    url = (await api.get(intent_url(iid))).json()["data"]["paymentUrl"]
    assert url == f"{live.url}/pay/{iid}"
    await page.goto(url)
    assert (await page.locator("#merchant-name").inner_text()) == "Acme Freelance"
    assert "1000.00" in (await page.locator("#amount").inner_text())
    assert (await page.locator("#description").inner_text()) == "Website build"
    assert (await page.locator("#status").inner_text()) == "INITIATED"
    assert "Milestone" in (await page.locator("#release-type").inner_text())
    assert (await page.locator("#dispute-window").inner_text()) == "7 days"
    assert "Phase 2" in (await page.locator("#milestone-1").inner_text())
    await shoot(page, "pay-page")
    await fill_card(page, DECLINED_CARD_NUMBER)
    await page.get_by_role("button", name=re.compile("^Pay 1000.00")).click()
    assert "declined" in (await page.locator("#error").inner_text()).lower()
    assert (await page.locator("#status").inner_text()) == "INITIATED"  # still payable
    await shoot(page, "pay-declined")
    await fill_card(page, GOOD_CARD["cardNumber"])
    await page.get_by_label("CVC").press("Enter")  # the keyboard pays, too
    await page.wait_for_url(re.compile(r"client_secret="))
    assert "Thank you" in (await page.locator("#receipt").inner_text())
    assert (await page.locator("#status").inner_text()) == "SUCCEEDED"
    assert (await page.locator("#held").inner_text()) == "1000.00 USDC"
    await shoot(page, "pay-receipt")
    assert re.search(rf"/pay/{iid}\?client_secret={iid}_secret_[0-9a-f]{{48}}", page.url)


async def test_the_payer_approves_a_completed_milestone_and_raises_a_dispute(
    page: Any, api: httpx.AsyncClient
) -> None:
    iid, (m0, m1) = await new_intent(api, ["300.00", "700.00"])
    await page.goto((await api.get(intent_url(iid))).json()["data"]["paymentUrl"])
    await fill_card(page, GOOD_CARD["cardNumber"])
    await page.get_by_role("button", name=re.compile("^Pay 1000")).click()
    await page.wait_for_url(re.compile(r"client_secret="))
    link = page.url
    r = await api.post(milestone_url(iid, m0, "complete"), json={"completedBy": "studio"})
    assert r.status_code == 200, r.text
    await page.goto(link.split("&")[0])
    approve = page.get_by_role("button", name="Approve milestone 0")
    await shoot(page, "payer-link")
    await approve.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#notice")
    assert "RELEASED" in (await page.locator("#milestone-0").inner_text())
    assert (await page.locator("#released").inner_text()) == "300.00 USDC"
    await shoot(page, "payer-approved", phone=False)
    await page.get_by_label("Reason").fill("Phase 2 was never delivered")
    await page.get_by_role("button", name="Raise a dispute").click()
    await page.wait_for_selector("#dispute")
    assert "Phase 2 was never delivered" in (await page.locator("#dispute").inner_text())
    assert (await page.locator("#order-status").inner_text()) == "DISPUTED"
    await shoot(page, "payer-disputed")
    order = (await api.get(order_url(iid))).json()["data"]
    assert order["orderStatus"] == "DISPUTED" and order["disputeRaisedBy"] == "payer"
    # without the secret the link shows no actions, and a wrong secret is refused
    await page.goto(link.split("?")[0])
    assert await page.get_by_role("button", name=re.compile("Approve")).count() == 0
    bad = await page.goto(link.split("?")[0] + "?client_secret=" + iid + "_secret_" + "0" * 48)
    assert bad is not None and bad.status == 401
    assert "not valid" in (await page.locator("#error").inner_text())
    assert m1


async def test_the_merchant_signs_in_sees_the_intent_and_completes_a_milestone(
    page: Any, api: httpx.AsyncClient, merchant: Any
) -> None:
    iid, _ = await new_intent(api, ["400.00", "600.00"], description="Logo design")
    pay = await api.post(
        payment_url(iid),
        json={"card": {**GOOD_CARD, "name": "P"}},
    )
    assert pay.status_code == 200
    await page.goto(api.base_url.join("/dashboard").__str__())
    await shoot(page, "dashboard-login")
    await page.get_by_label("Secret key").fill(merchant.key)
    await page.get_by_label("Secret key").press("Enter")
    await page.wait_for_selector("#intents")
    assert merchant.key not in page.url
    cookie = next(c for c in await page.context.cookies() if c["name"] == "escrowgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert merchant.key not in cookie["value"]
    await shoot(page, "dashboard")
    await page.get_by_role("link", name="succeeded").click()
    await page.get_by_role("link", name="Logo design").click()
    await page.wait_for_selector("#milestones")
    await page.get_by_role("button", name="Complete milestone 0").click()
    await page.wait_for_selector("#notice")
    assert "COMPLETED" in (await page.locator("#milestone-0").inner_text())
    assert (await page.locator("#ledger").inner_text()).count("FUND") == 2
    assert "milestone.completed" in (await page.locator("#events").inner_text())
    await shoot(page, "dashboard-intent")
    # A form without the session's CSRF token changes nothing.
    r = await page.request.post(
        page.url.split("?")[0] + "/refund", form={"csrf": "forged", "amount": "1.00"}
    )
    assert r.status == 403
    assert (await api.get(order_url(iid))).json()["data"]["refundedAmount"] == "0.00"
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_selector("#login-form")


async def test_docs_work_with_no_internet_access(page: Any, live: LiveServer) -> None:
    outside: list[str] = []

    async def only_local(route: Any) -> None:
        if route.request.url.startswith(live.url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto(live.url + "/docs")
    await page.wait_for_selector(".swagger-ui .information-container")
    await page.get_by_text(intents_url(), exact=True).first.wait_for()
    assert outside == []
    await shoot(page, "docs", phone=False)


CROSS_ORIGIN_PAGE = """<!doctype html><html><body><p id="out">…</p><script>
async function run(api, intentUrl, card, id) {
  const intent = await (await fetch(api + intentUrl)).json();
  const paid = await fetch(api + intentUrl + "/payment", {
    method: "POST", headers: {"Content-Type": "application/json", "Idempotency-Key": "x-" + id},
    body: JSON.stringify({card: card})});
  const body = await paid.json();
  document.getElementById("out").textContent = intent.data.amount + " " + body.data.status;
  return {amount: intent.data.amount, status: body.data.status, secret: body.clientSecret,
          requestId: paid.headers.get("Request-Id")};
}
</script></body></html>"""


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A tiny page served on another port: another origin than the API's."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            payload = CROSS_ORIGIN_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = socketserver.TCPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


async def test_a_page_on_another_origin_loads_and_pays_an_intent(
    page: Any, api: httpx.AsyncClient, live: LiveServer, other_origin: str
) -> None:
    iid, _ = await new_intent(api, [])
    await page.goto(other_origin + "/shop")
    result = await page.evaluate(
        "([api, intentUrl, card, id]) => run(api, intentUrl, card, id)",
        [live.url, public_intent_url(iid), {**GOOD_CARD, "name": "Ada"}, iid],
    )
    assert result["amount"] == "1000.00" and result["status"] == "SUCCEEDED"
    assert result["secret"].startswith(iid + "_secret_")
    assert result["requestId"]  # exposed to the page
    # a keyed route is not readable from that origin by default
    blocked = await page.evaluate(
        """async ([api, url, key]) => { try { await fetch(api + url,
             {headers: {"X-API-Key": key}}); return "read"; } catch (e) { return "blocked"; } }""",
        [live.url, intents_url(), api.headers["X-API-Key"]],
    )
    assert blocked == "blocked"


LONG_WORD = "Supercalifragilistic" * 20  # merchant-written text with no place to break


async def test_a_very_long_word_wraps_and_leaves_the_columns_readable(
    page: Any, api: httpx.AsyncClient, merchant: Any
) -> None:
    """The payer's page and the dashboard stay as wide as the screen when a description
    is one 400-character word, and the short cells (statuses, amounts) stay on one line."""
    r = await api.post(intents_url(), json=intent_body(description=LONG_WORD))
    iid = r.json()["id"]
    body = {"milestoneIndex": 0, "description": LONG_WORD, "amount": "1000.00"}
    assert (await api.post(milestones_url(iid), json=body)).status_code == 201
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{api.base_url}/pay/{iid}")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await shoot(page, "pay-long-word", phone=False)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{api.base_url}/dashboard")
    await page.get_by_label("Secret key").fill(merchant.key)
    await page.get_by_label("Secret key").press("Enter")
    await page.wait_for_selector("#intents")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
    for badge in await page.locator("#intents .badge").all():
        box = await badge.bounding_box()
        assert box is not None and box["height"] < 30, box  # one line, not a letter a line
    await shoot(page, "dashboard-long-word", phone=False)
