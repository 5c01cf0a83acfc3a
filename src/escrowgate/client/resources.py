"""The resources of the synchronous client: one per object of the API, each method
one call (calls.py) answered as the API's own response model. List methods are
iterators over every item, fetching the next page (`starting_after`) as they go.

resources_async.py is this file made async (tests/unit/test_sdk.py checks it is)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypeVar

from ..events.wire import EventList, EventWire
from ..ledger.wire import Balance, LedgerEntryData, LedgerEntryList
from ..payments.wire import (
    DeliveryProofEnvelope,
    DisputeEnvelope,
    IntentData,
    IntentEnvelope,
    IntentList,
    MilestoneData,
    MilestoneEnvelope,
    MilestoneList,
    OrderEnvelope,
    RefundData,
)
from ..webhooks.wire import (
    AttemptList,
    DeletedEndpoint,
    DeliveryAttempt,
    EndpointData,
    EndpointEnvelope,
    EndpointList,
    Redelivery,
)
from ..wire import ListEnvelope, WireModel
from . import calls
from ._core import Call, cursor_params
from .transport import SyncTransport

Item = TypeVar("Item", bound=WireModel)
Strings = list[str]  # (a class with a `list` method cannot say list[str] in its body)


class Resource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport

    def _iterate(
        self, path: str, model: type[ListEnvelope[Item]], params: dict[str, Any]
    ) -> Iterator[Item]:
        after: str | None = None
        while True:
            page = self._t.send(Call("GET", path, params=cursor_params(params, after)), model)
            for item in page.data:  # noqa: UP028 (the async version cannot yield from)
                yield item
            if not page.hasMore or not page.data:
                return
            after = str(getattr(page.data[-1], "id", ""))


class PaymentIntents(Resource):
    def create(
        self,
        *,
        amount: str | Decimal,
        currency: str,
        type: str,
        settlement_method: str | None = None,
        settlement_destination: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        delivery_period: int | str | None = None,
        expected_delivery_hash: str | None = None,
        auto_release: bool | None = None,
        delivery_oracle: str | None = None,
        idempotency_key: str | None = None,
    ) -> IntentEnvelope:
        call = calls.create_intent(
            amount=amount,
            currency=currency,
            type=type,
            settlement_method=settlement_method,
            settlement_destination=settlement_destination,
            description=description,
            metadata=metadata,
            delivery_period=delivery_period,
            expected_delivery_hash=expected_delivery_hash,
            auto_release=auto_release,
            delivery_oracle=delivery_oracle,
            idempotency_key=idempotency_key,
        )
        return self._t.send(call, IntentEnvelope)

    def get(self, intent_id: str) -> IntentEnvelope:
        return self._t.send(Call("GET", calls.intent(intent_id)), IntentEnvelope)

    def list(
        self, *, status: str | None = None, type: str | None = None, page_size: int = 100
    ) -> Iterator[IntentData]:
        params = {"status": status, "type": type, "limit": page_size}
        return self._iterate("/payment-intents", IntentList, params)

    def cancel(self, intent_id: str, *, idempotency_key: str | None = None) -> IntentEnvelope:
        call = calls.post(calls.intent(intent_id) + "/cancel", idempotency_key)
        return self._t.send(call, IntentEnvelope)

    def confirm(
        self,
        intent_id: str,
        *,
        signature: str,
        payer_address: str,
        transaction_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> IntentEnvelope:
        call = calls.post(
            calls.intent(intent_id) + "/confirm",
            idempotency_key,
            signature=signature,
            payerAddress=payer_address,
            transactionHash=transaction_hash,
        )
        return self._t.send(call, IntentEnvelope)


class Milestones(Resource):
    def create(
        self,
        intent_id: str,
        *,
        milestone_index: int,
        amount: str | Decimal,
        description: str | None = None,
        percentage: int | Decimal | None = None,
        idempotency_key: str | None = None,
    ) -> MilestoneEnvelope:
        call = calls.create_milestone(
            intent_id,
            milestone_index=milestone_index,
            amount=amount,
            description=description,
            percentage=percentage,
            idempotency_key=idempotency_key,
        )
        return self._t.send(call, MilestoneEnvelope)

    def get(self, intent_id: str, milestone_id: str) -> MilestoneEnvelope:
        call = Call("GET", calls.milestone(intent_id, milestone_id))
        return self._t.send(call, MilestoneEnvelope)

    def list(self, intent_id: str) -> Iterator[MilestoneData]:
        path = calls.intent(intent_id) + "/escrow/milestones"
        return self._iterate(path, MilestoneList, {})

    def complete(
        self,
        intent_id: str,
        milestone_id: str,
        *,
        completed_by: str,
        completion_proof: str | None = None,
        completion_proof_uri: str | None = None,
        idempotency_key: str | None = None,
    ) -> MilestoneEnvelope:
        call = calls.post(
            calls.milestone(intent_id, milestone_id) + "/complete",
            idempotency_key,
            completedBy=completed_by,
            completionProof=completion_proof,
            completionProofURI=completion_proof_uri,
        )
        return self._t.send(call, MilestoneEnvelope)

    def approve(
        self,
        intent_id: str,
        milestone_id: str,
        *,
        signature: str,
        idempotency_key: str | None = None,
    ) -> MilestoneEnvelope:
        call = calls.post(
            calls.milestone(intent_id, milestone_id) + "/approve",
            idempotency_key,
            signature=signature,
        )
        return self._t.send(call, MilestoneEnvelope)


class ConditionalPayments(Resource):
    def get(self, intent_id: str) -> OrderEnvelope:
        path = calls.intent(intent_id) + "/conditional-payment"
        return self._t.send(Call("GET", path), OrderEnvelope)

    def submit_delivery_proof(
        self,
        intent_id: str,
        *,
        proof_hash: str,
        submitted_by: str,
        proof_uri: str | None = None,
        submit_tx_hash: str | None = None,
        idempotency_key: str | None = None,
    ) -> DeliveryProofEnvelope:
        call = calls.post(
            calls.intent(intent_id) + "/conditional-payment/delivery-proof",
            idempotency_key,
            proofHash=proof_hash,
            submittedBy=submitted_by,
            proofURI=proof_uri,
            submitTxHash=submit_tx_hash,
        )
        return self._t.send(call, DeliveryProofEnvelope)

    def approve(
        self, intent_id: str, *, signature: str, idempotency_key: str | None = None
    ) -> OrderEnvelope:
        call = calls.post(
            calls.intent(intent_id) + "/conditional-payment/approve",
            idempotency_key,
            signature=signature,
        )
        return self._t.send(call, OrderEnvelope)


class Refunds(Resource):
    def create(
        self,
        intent_id: str,
        *,
        amount: str | Decimal | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> RefundData:
        call = calls.refund(
            intent_id, amount=amount, reason=reason, idempotency_key=idempotency_key
        )
        return self._t.send(call, RefundData)


class Disputes(Resource):
    def create(
        self,
        intent_id: str,
        *,
        reason: str,
        raised_by: str,
        dispute_window: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> DisputeEnvelope:
        call = calls.post(
            calls.intent(intent_id) + "/conditional-payment/dispute",
            idempotency_key,
            reason=reason,
            raisedBy=raised_by,
            disputeWindow=dispute_window,
        )
        return self._t.send(call, DisputeEnvelope)

    def resolve(
        self,
        intent_id: str,
        *,
        resolution: str,
        refund_amount: str | Decimal | None = None,
        idempotency_key: str | None = None,
    ) -> DisputeEnvelope:
        call = calls.resolve_dispute(
            intent_id,
            resolution=resolution,
            refund_amount=refund_amount,
            idempotency_key=idempotency_key,
        )
        return self._t.send(call, DisputeEnvelope)


class Events(Resource):
    def get(self, event_id: str) -> EventWire:
        return self._t.send(Call("GET", "/events/" + calls.seg(event_id)), EventWire)

    def list(self, *, type: str | None = None, page_size: int = 100) -> Iterator[EventWire]:
        return self._iterate("/events", EventList, {"type": type, "limit": page_size})

    def redeliver(
        self, event_id: str, *, endpoint_id: str | None = None, idempotency_key: str | None = None
    ) -> Redelivery:
        call = calls.post(
            "/events/" + calls.seg(event_id) + "/redeliver",
            idempotency_key,
            endpointId=endpoint_id,
        )
        return self._t.send(call, Redelivery)


class WebhookEndpoints(Resource):
    def create(
        self,
        *,
        url: str,
        enabled_events: Strings,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> EndpointEnvelope:
        call = calls.post(
            "/webhook-endpoints",
            idempotency_key,
            url=url,
            enabledEvents=enabled_events,
            description=description,
        )
        return self._t.send(call, EndpointEnvelope)

    def get(self, endpoint_id: str) -> EndpointEnvelope:
        path = "/webhook-endpoints/" + calls.seg(endpoint_id)
        return self._t.send(Call("GET", path), EndpointEnvelope)

    def list(self, *, page_size: int = 100) -> Iterator[EndpointData]:
        return self._iterate("/webhook-endpoints", EndpointList, {"limit": page_size})

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        enabled_events: Strings | None = None,
        description: str | None = None,
        disabled: bool | None = None,
        idempotency_key: str | None = None,
    ) -> EndpointEnvelope:
        call = calls.post(
            "/webhook-endpoints/" + calls.seg(endpoint_id),
            idempotency_key,
            url=url,
            enabledEvents=enabled_events,
            description=description,
            disabled=disabled,
        )
        return self._t.send(call, EndpointEnvelope)

    def delete(self, endpoint_id: str) -> DeletedEndpoint:
        path = "/webhook-endpoints/" + calls.seg(endpoint_id)
        return self._t.send(Call("DELETE", path), DeletedEndpoint)

    def rotate_secret(
        self, endpoint_id: str, *, idempotency_key: str | None = None
    ) -> EndpointEnvelope:
        path = "/webhook-endpoints/" + calls.seg(endpoint_id) + "/rotate-secret"
        return self._t.send(calls.post(path, idempotency_key), EndpointEnvelope)

    def deliveries(self, endpoint_id: str, *, page_size: int = 100) -> Iterator[DeliveryAttempt]:
        path = "/webhook-endpoints/" + calls.seg(endpoint_id) + "/deliveries"
        return self._iterate(path, AttemptList, {"limit": page_size})


class Account(Resource):
    def balance(self) -> Balance:
        return self._t.send(Call("GET", "/account/balance"), Balance)

    def ledger_entries(
        self,
        *,
        payment_intent_id: str | None = None,
        transaction_type: str | None = None,
        page_size: int = 100,
    ) -> Iterator[LedgerEntryData]:
        params = {
            "paymentIntentId": payment_intent_id,
            "transactionType": transaction_type,
            "limit": page_size,
        }
        return self._iterate("/account/ledger-entries", LedgerEntryList, params)


class TestHelpers(Resource):
    """Test mode only."""

    def advance_clock(
        self, intent_id: str, *, seconds: int, idempotency_key: str | None = None
    ) -> OrderEnvelope:
        path = "/test_helpers" + calls.intent(intent_id) + "/advance_clock"
        return self._t.send(calls.post(path, idempotency_key, seconds=seconds), OrderEnvelope)
