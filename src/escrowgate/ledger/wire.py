"""The wire shapes of the account's balance and ledger entries (Pydantic only: the
API client imports them too)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..wire import AmountStr, IsoTime, ListEnvelope, WireModel


class CurrencyBalance(WireModel):
    currency: str
    reservedBalance: AmountStr = Field(description="Held in escrow")
    pendingBalance: AmountStr = Field(description="Released, settlement in flight")
    availableBalance: AmountStr = Field(description="Settled to the merchant's destination")
    totalBalance: AmountStr


class BalanceData(WireModel):
    """The merchant's primary currency at the top (where the reference backend puts
    them, for a client that reads one currency), every currency in `balances`."""

    availableBalance: AmountStr = Field(description="Primary currency: settled")
    pendingBalance: AmountStr = Field(description="Primary currency: released, in flight")
    reservedBalance: AmountStr = Field(description="Primary currency: held in escrow")
    totalBalance: AmountStr
    currency: str = Field(description="The primary currency: that of the first intent")
    balances: list[CurrencyBalance]


class Balance(WireModel):
    object: Literal["balance"]
    livemode: bool
    data: BalanceData


class LedgerEntryData(WireModel):
    id: str
    object: Literal["ledger_entry"]
    transactionId: str
    account: str
    amount: AmountStr = Field(description="Signed: the legs of a transaction sum to 0")
    currency: str
    transactionType: str
    paymentIntentId: str | None
    conditionalPaymentId: str | None
    referenceId: str | None
    createdAt: IsoTime


class LedgerEntryList(ListEnvelope[LedgerEntryData]):
    pass
