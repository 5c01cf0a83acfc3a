"""/metrics labels: the route template with the prefix the request used, never the raw
path; made-up methods share one label. (Counts of real server processes:
tests/e2e/test_metrics.py.)"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.driver import Merchant, intent_url

REQUESTS = "escrowgate_http_requests_total"


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def moved(before: dict, after: dict, **labels: str) -> float:  # type: ignore[type-arg]
    key = (REQUESTS, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_each_prefix_has_its_template_and_no_id(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    before = await scrape(client)
    iid = "intent_doesnotexist42"
    for prefix in ("/v1", "/api/v1"):
        r = await client.get(intent_url(iid, prefix=prefix), headers=merchant.headers)
        assert r.status_code == 404
    r = await client.request("BREW", "/v1/payment-intents", headers=merchant.headers)
    assert r.status_code == 405
    r = await client.request("PROPFIND", "/v1/payment-intents", headers=merchant.headers)
    assert r.status_code == 405
    after = await scrape(client)
    for prefix in ("/v1", "/api/v1"):
        route = prefix + "/payment-intents/{intent_id}"
        assert moved(before, after, method="GET", route=route, status="404") == 1
    assert moved(before, after, method="OTHER", route="/v1/payment-intents", status="405") == 2
    text = (await client.get("/metrics")).text
    assert iid not in text and "BREW" not in text and "PROPFIND" not in text
