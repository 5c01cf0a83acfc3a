"""The Create Milestone page's own code examples, run against a real server process
set up with the operator CLI (fresh SQLite file, or a fresh PostgreSQL database when
TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Deployment
from tests.support.driver import API, intents_url, milestones_url, order_url

pytestmark = pytest.mark.e2e

SEED_MILESTONES = [
    {
        "milestoneIndex": 0,
        "description": "Project kickoff - 20%",
        "amount": "200.00",
        "percentage": 20,
    },
    {
        "milestoneIndex": 1,
        "description": "Mid-point delivery - 50%",
        "amount": "500.00",
        "percentage": 50,
    },
    {
        "milestoneIndex": 2,
        "description": "Final delivery - 30%",
        "amount": "300.00",
        "percentage": 30,
    },
]
CREATED_LINE = re.compile(r"^Milestone (\d+) created: (\S+)$")


@pytest.fixture(scope="module")
def deployment() -> Iterator[tuple[Deployment, str]]:
    d = Deployment()
    try:
        d.migrate()
        d.spawn()  # the server starts while the operator creates the merchant and key
        _, key = d.create_merchant_key("Seed Example Studio")
        d.wait_ready()
        yield d, key
    finally:
        d.stop()


def create_milestone_locked_intent(base: str, key: str) -> str:
    r = httpx.post(
        f"{base}{intents_url()}",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={
            "amount": "1000.00",
            "currency": "USDC",
            "type": "DELIVERY_VS_PAYMENT",
            "settlementMethod": "OFF_RAMP_MOCK",
            "settlementDestination": "test_account_123",
            "description": "Seed example project",
            "metadata": {"releaseType": "MILESTONE_LOCKED"},
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "INITIATED"
    return str(r.json()["id"])


def assert_final_escrow(
    base: str, key: str, intent_id: str, printed: list[tuple[int, str]]
) -> None:
    r = httpx.get(f"{base}{order_url(intent_id)}", headers={"X-API-Key": key}, timeout=10)
    assert r.status_code == 200, r.text
    order = r.json()["data"]
    assert order["releaseType"] == "MILESTONE_LOCKED"
    assert order["amount"] == "1000.00"
    got = [
        (m["milestoneIndex"], m["id"], m["description"], m["amount"], m["percentage"], m["status"])
        for m in order["milestones"]
    ]
    expected = [
        (
            s["milestoneIndex"],
            printed[i][1],
            s["description"],
            s["amount"],
            s["percentage"],
            "PENDING",
        )
        for i, s in enumerate(SEED_MILESTONES)
    ]
    assert got == expected
    for m in order["milestones"]:
        assert m["conditionalPaymentId"] == order["id"]
        assert m["paymentIntentId"] == intent_id


def test_the_python_example_creates_the_three_milestones(deployment, capsys, monkeypatch):
    d, key = deployment
    intent_id = create_milestone_locked_intent(d.base_url, key)
    monkeypatch.setenv("FINTERNET_API_KEY", key)
    api = d.base_url + API
    statuses = []

    # --- the page's Python example (requests -> httpx, host -> the server) ---
    milestones = [dict(m) for m in SEED_MILESTONES]
    with httpx.Client(timeout=10) as requests:
        for milestone in milestones:
            response = requests.post(
                milestones_url(intent_id, prefix=api),
                headers={
                    "X-API-Key": os.environ["FINTERNET_API_KEY"],
                    "Content-Type": "application/json",
                },
                json=milestone,
            )
            created = response.json()
            print(f"Milestone {milestone['milestoneIndex']} created:", created["id"])
            statuses.append(response.status_code)
    # --- end of the example ---

    assert statuses == [201, 201, 201]
    lines = capsys.readouterr().out.strip().splitlines()
    printed = [(int(m.group(1)), m.group(2)) for m in map(CREATED_LINE.match, lines) if m]
    assert [i for i, _ in printed] == [0, 1, 2], lines
    assert all(mid.startswith("milestone_") for _, mid in printed)
    assert len({mid for _, mid in printed}) == 3
    assert_final_escrow(d.base_url, key, intent_id, printed)

    # and the page's documented errors, on the real server
    again = httpx.post(
        milestones_url(intent_id, prefix=api),
        headers={"X-API-Key": key},
        json=SEED_MILESTONES[0],
        timeout=10,
    )
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "Milestone with index 0 already exists"
    over = httpx.post(
        milestones_url(intent_id, prefix=api),
        headers={"X-API-Key": key},
        json={"milestoneIndex": 3, "amount": "0.01"},
        timeout=10,
    )
    assert over.status_code == 400
    err = over.json()["error"]
    assert (err["code"], err["type"], err["message"]) == (
        "invalid_request",
        "invalid_request_error",
        "Total milestone amounts exceed escrow order amount",
    )


JS_EXAMPLE = """
const intentId = process.env.INTENT_ID;

// Create multiple milestones for a project
const milestones = [
  {
    milestoneIndex: 0,
    description: 'Project kickoff - 20%',
    amount: '200.00',
    percentage: 20,
  },
  {
    milestoneIndex: 1,
    description: 'Mid-point delivery - 50%',
    amount: '500.00',
    percentage: 50,
  },
  {
    milestoneIndex: 2,
    description: 'Final delivery - 30%',
    amount: '300.00',
    percentage: 30,
  },
];

for (const milestone of milestones) {
  const response = await fetch(
    `__API__/payment-intents/${intentId}/escrow/milestones`,
    {
      method: 'POST',
      headers: {
        'X-API-Key': process.env.FINTERNET_API_KEY,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(milestone),
    }
  );

  const created = await response.json();
  console.log(`Milestone ${milestone.milestoneIndex} created:`, created.id);
  console.error(`status ${response.status}`);
}
"""


def test_the_javascript_example_creates_the_three_milestones(deployment):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the JavaScript example cannot be run here")
    d, key = deployment
    intent_id = create_milestone_locked_intent(d.base_url, key)
    script = Path(tempfile.mkdtemp(prefix="escrowgate-js-")) / "create_milestones.mjs"
    script.write_text(JS_EXAMPLE.replace("__API__", d.base_url + API))
    done = subprocess.run(
        [node, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FINTERNET_API_KEY": key, "INTENT_ID": intent_id},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.split() == ["status", "201"] * 3, done.stderr
    lines = done.stdout.strip().splitlines()
    printed = [(int(m.group(1)), m.group(2)) for m in map(CREATED_LINE.match, lines) if m]
    assert [i for i, _ in printed] == [0, 1, 2], lines
    assert all(mid.startswith("milestone_") for _, mid in printed)
    assert_final_escrow(d.base_url, key, intent_id, printed)


def test_the_curl_example_body_and_headers(deployment):
    """The page's request example, byte for byte (the -d body), through a real socket."""
    d, key = deployment
    intent_id = create_milestone_locked_intent(d.base_url, key)
    body = (
        '{\n"milestoneIndex": 0,\n"description": "Initial payment - 30%",\n'
        '"amount": "300.00",\n"percentage": 30\n}'
    )
    r = httpx.post(
        d.base_url + milestones_url(intent_id),
        content=body.encode(),
        timeout=10,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["request-id"].startswith("req_")
    created = r.json()
    assert created["object"] == "milestone"
    assert {
        k: created["data"][k]
        for k in ("milestoneIndex", "description", "amount", "percentage", "status")
    } == {
        "milestoneIndex": 0,
        "description": "Initial payment - 30%",
        "amount": "300.00",
        "percentage": 30,
        "status": "PENDING",
    }
    assert '"percentage":30' in r.text.replace(" ", "")
