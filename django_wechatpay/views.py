"""The notify view: a few lines; the pipeline is in :mod:`django_wechatpay.notify`."""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .conf import app_settings
from .core.headers import canonical_headers, decimal_header
from .notify import Answer, Delivery, receive

__all__ = ["notify"]

logger = logging.getLogger("django_wechatpay.notify")


def _answer(outcome: Answer) -> HttpResponse:
    if outcome.ok:
        return HttpResponse(status=outcome.status)
    # WeChat Pay's documented failure body: {"code": "FAIL", "message": …} (protocol §4.6).
    return JsonResponse(
        {"code": "FAIL", "message": outcome.message[:64] or "FAIL"}, status=outcome.status
    )


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def notify(request: HttpRequest, mchid: str) -> HttpResponse:
    """Receive one WeChat Pay notification for merchant ``mchid``.

    Exempt from CSRF (WeChat Pay has no token) and from ``ATOMIC_REQUESTS`` (the
    pipeline commits the record and its effects itself, before answering).
    """
    limit = int(app_settings.NOTIFY_MAX_BODY_BYTES)
    declared = request.META.get("CONTENT_LENGTH") or None
    length = decimal_header(declared or "0")
    if length is None:
        logger.warning("notification for %s refused: Content-Length %.20r", mchid, declared)
        return _answer(Answer(400, "malformed Content-Length"))
    # The body actually read counts, not the header: under ASGI a chunked body comes
    # without one. Never more than one byte over the limit is read.
    body = b"" if length > limit else request.read(limit + 1)
    if length > limit or len(body) > limit:
        logger.warning("notification for %s refused: body over %d bytes", mchid, limit)
        return _answer(Answer(413, "body too large"))
    delivery = Delivery(
        mchid=mchid,
        headers=canonical_headers(request.META),
        remote_addr=request.META.get("REMOTE_ADDR"),
        body=body,
    )
    try:
        outcome = receive(delivery)
    except DatabaseError:
        # Not even the record could be written: 5xx, so WeChat Pay delivers it again.
        logger.exception("notification for %s could not be recorded", mchid)
        return _answer(Answer(500, "temporarily unavailable"))
    return _answer(outcome)
