"""Personal data in what WeChat Pay reports, and what of it may be kept.

Transactions and refunds, whether notified or queried, name the payer and where a
refund went. An application keeps these reports (the last answer on an order, the
decrypted notification) for people to read, so :func:`minimised` is applied before
anything is stored: the fields below are replaced by :data:`REDACTED`, wherever they
appear, and the rest (ids, states, amounts, times) is kept as reported.

Per field (``docs/security.md`` says the same to deployers):

``openid``, ``sp_openid``, ``sub_openid``
    The payer, per appid (``payer``, ``combine_payer_info``). The Django layer keeps it
    once, in its own column (``Order.payer_openid``), where it is needed to know who
    paid; copies in stored reports only widen who can read it.
``user_received_account``
    Where a refund went (a bank and the end of a card number). Nothing in the app uses
    it; the refund query tells whoever needs it.
``payer_client_ip``
    The payer's address (H5 scene information). Not used after the order is placed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .redaction import REDACTED

__all__ = ["PERSONAL_FIELDS", "REDACTED", "minimised"]

PERSONAL_FIELDS = frozenset(
    {"openid", "sp_openid", "sub_openid", "user_received_account", "payer_client_ip"}
)


def minimised(report: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``report`` (parsed JSON) without its personal data."""
    return {key: _kept(key, value) for key, value in report.items()}


def _kept(key: str, value: Any) -> Any:
    if key in PERSONAL_FIELDS and value not in (None, ""):
        return REDACTED
    if isinstance(value, Mapping):
        return minimised(value)
    if isinstance(value, list):
        return [_kept("", item) for item in value]
    return value
