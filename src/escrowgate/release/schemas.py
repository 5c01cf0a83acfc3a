from __future__ import annotations

from ..api.fields import RequestModel
from ..funding.schemas import Signature


class ApproveRelease(RequestModel):
    signature: Signature
