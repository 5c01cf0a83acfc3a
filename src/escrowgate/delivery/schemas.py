from __future__ import annotations

from ..api.fields import RequestModel, bytes32_field, text_field
from ..funding.schemas import Signature


class SubmitDeliveryProof(RequestModel):
    proofHash: bytes32_field("proofHash")  # type: ignore[valid-type]
    submittedBy: text_field("submittedBy", 255)  # type: ignore[valid-type]
    proofURI: text_field("proofURI", 2000) | None = None  # type: ignore[valid-type]
    submitTxHash: bytes32_field("submitTxHash") | None = None  # type: ignore[valid-type]


class ApproveDelivery(RequestModel):
    signature: Signature
