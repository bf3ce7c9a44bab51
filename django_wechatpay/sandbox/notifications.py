"""Notification bodies: the envelope of §4.2 around a resource sealed with AES-256-GCM."""

from __future__ import annotations

import uuid
from typing import Any

from .answers import dumps
from .combine import payable_view
from .crypto import gcm_seal, random_string
from .refunds import SUMMARIES, notification_resource
from .state import Payable, Refund, now_beijing, rfc3339

__all__ = ["envelope", "payment_body", "refund_body"]


def envelope(
    apiv3_key: str, event_type: str, summary: str, original_type: str, resource: dict[str, Any]
) -> bytes:
    """The body as sent; ``associated_data`` is the original type (UNCONFIRMED, §4.1)."""
    nonce = random_string(12)
    return dumps(
        {
            "id": str(uuid.uuid4()),
            "create_time": rfc3339(now_beijing()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": gcm_seal(apiv3_key, nonce, original_type, dumps(resource)),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
    )


def payment_body(apiv3_key: str, payable: Payable) -> bytes:
    """TRANSACTION.SUCCESS: the transaction of §4.4 (a combine payment: its query view)."""
    resource = payable_view(payable)
    return envelope(apiv3_key, "TRANSACTION.SUCCESS", "支付成功", "transaction", resource)


def refund_body(apiv3_key: str, refund: Refund) -> bytes:
    """REFUND.SUCCESS / ABNORMAL / CLOSED: the refund of §4.5, with ``refund_status``."""
    return envelope(
        apiv3_key,
        f"REFUND.{refund.status}",
        SUMMARIES[refund.status],
        "refund",
        notification_resource(refund),
    )
