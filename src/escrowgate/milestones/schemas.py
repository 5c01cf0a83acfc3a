from __future__ import annotations

from ..api.fields import Amount, MilestoneIndex, Percentage, RequestModel, text_field


class CreateMilestone(RequestModel):
    milestoneIndex: MilestoneIndex
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]
    amount: Amount
    percentage: Percentage | None = None


class CompleteMilestone(RequestModel):
    completedBy: text_field("completedBy", 255)  # type: ignore[valid-type]
    completionProof: text_field("completionProof", 2000) | None = None  # type: ignore[valid-type]
    completionProofURI: text_field("completionProofURI", 2000) | None = None  # type: ignore[valid-type]
