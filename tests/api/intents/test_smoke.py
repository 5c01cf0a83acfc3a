from tests.support.driver import create_intent, milestones_url


async def test_create_intent_and_milestone(client, merchant):
    intent = await create_intent(client, merchant)
    r = await client.post(
        milestones_url(intent["id"]),
        json={
            "milestoneIndex": 0,
            "description": "Initial payment - 30%",
            "amount": "300.00",
            "percentage": 30,
        },
        headers=merchant.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["data"]["status"] == "PENDING"
