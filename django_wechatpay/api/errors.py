"""WeChat Pay's refusals and failures as DRF errors that carry its code and message."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException

from ..core.errors import BusinessError, RateLimitedError, WeChatPayError
from ..exceptions import InvalidOrderRequest, OrderConflict, WeChatPayServiceError

__all__ = ["WeChatPayAPIError", "translate"]


class WeChatPayAPIError(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "wechatpay_error"
    default_detail = "WeChat Pay could not be reached."


def translate(exc: Exception) -> APIException:
    """The DRF error for an error of the protocol or the services."""
    if isinstance(exc, InvalidOrderRequest):
        from rest_framework.exceptions import ValidationError

        return ValidationError({exc.field or "non_field_errors": [str(exc)]})
    error = WeChatPayAPIError()
    code: int = status.HTTP_502_BAD_GATEWAY
    detail: dict[str, Any] = {}
    if isinstance(exc, OrderConflict):
        code, detail = status.HTTP_409_CONFLICT, {"code": "conflict", "message": str(exc)}
    elif isinstance(exc, WeChatPayServiceError):
        code, detail = status.HTTP_409_CONFLICT, {"code": "not_allowed", "message": str(exc)}
    elif isinstance(exc, WeChatPayError):
        if isinstance(exc, RateLimitedError):
            code = status.HTTP_503_SERVICE_UNAVAILABLE
        elif isinstance(exc, BusinessError):
            code = status.HTTP_400_BAD_REQUEST
        detail = {
            "code": exc.code or type(exc).__name__,
            "message": exc.message,
            "request_id": exc.request_id,
        }
    error.status_code = code  # type: ignore[assignment]
    if detail:
        error.detail = detail
    return error
