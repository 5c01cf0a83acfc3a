"""The unique index behind "Milestone with index N already exists" (API.md §2): the
locked read answers first; when the index is all that stands (the read found
nothing), its violation gives the same answer, and no other constraint's does."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from tests.support.driver import (
    MILESTONE_INDEX_UNIQUE,
    add_milestone,
    assert_error,
    create_intent,
    db_execute,
    payment_repository,
    post_milestone,
    violates_unique,
)

COLUMNS = (
    "id, conditional_payment_id, payment_intent_id, merchant_id, currency, milestone_index, "
    "amount, percentage_bp, status, added_after_funding, created_at, updated_at"
)


async def _order_id(app, intent_id: str) -> str:
    rows = await db_execute(
        app, "SELECT id FROM conditional_payments WHERE payment_intent_id = :i", i=intent_id
    )
    return str(rows[0][0])


async def _insert(app, mid: str, order_id: str, intent_id: str, index: int, amount: int) -> None:
    await db_execute(
        app,
        f"INSERT INTO milestones ({COLUMNS}) VALUES "
        "(:id, :o, :i, 'm', 'USDC', :idx, :amount, 0, 'PENDING', false, 0, 0)",
        id=mid,
        o=order_id,
        i=intent_id,
        idx=index,
        amount=amount,
    )


async def test_the_index_violation_is_recognised_and_no_other(app, client, merchant):
    intent = await create_intent(client, merchant)
    order_id = await _order_id(app, intent["id"])
    await _insert(app, "milestone_c1", order_id, intent["id"], 0, 10)
    with pytest.raises(IntegrityError) as same_index:
        await _insert(app, "milestone_c2", order_id, intent["id"], 0, 10)
    assert violates_unique(same_index.value, MILESTONE_INDEX_UNIQUE)
    with pytest.raises(IntegrityError) as same_id:  # the primary key, not the index
        await _insert(app, "milestone_c1", order_id, intent["id"], 1, 10)
    assert not violates_unique(same_id.value, MILESTONE_INDEX_UNIQUE)
    with pytest.raises(IntegrityError) as negative:  # a check constraint
        await _insert(app, "milestone_c3", order_id, intent["id"], 2, -5)
    assert not violates_unique(negative.value, MILESTONE_INDEX_UNIQUE)


async def test_the_index_alone_still_answers_already_exists(client, merchant, monkeypatch):
    intent = await create_intent(client, merchant, amount="100.00")
    await add_milestone(client, merchant, intent["id"], 0, "10.00")

    async def nothing(*_args, **_kwargs):  # the locked read misses the duplicate
        return []

    monkeypatch.setattr(payment_repository, "milestones_for_new_index", nothing)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "5.00"}
    )
    assert_error(
        r, 400, "invalid_request", "Milestone with index 0 already exists", param="milestoneIndex"
    )
