"""Every error of the API in one shape, WeChat Pay's refusals with their code and message.

::

    {"code": "...", "message": "...", "detail": {...}, "request_id": "..."}

``code`` is stable (DRF's codes, ``invalid`` for validation errors, WeChat Pay's own
codes such as ``ORDER_CLOSED``); ``message`` is for people; ``detail`` (validation
errors: field → messages) and ``request_id`` (WeChat Pay's ``Request-ID``) only when
there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from ..core.errors import BusinessError, RateLimitedError, WeChatPayError
from ..exceptions import (
    InvalidOrderRequest,
    MerchantNotFound,
    OrderConflict,
    WeChatPayServiceError,
)

__all__ = ["WeChatPayAPIError", "error_body", "exception_handler", "translate"]


class WeChatPayAPIError(APIException):
    """An error answered with a ``code`` of its own and, from WeChat Pay, a Request-ID."""

    status_code: int = status.HTTP_502_BAD_GATEWAY
    default_code = "wechatpay_error"
    default_detail = _("WeChat Pay could not be reached.")

    def __init__(
        self,
        message: Any = None,
        code: str | None = None,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code)
        if status_code is not None:
            self.status_code = status_code
        self.request_id = request_id


def translate(exc: Exception) -> APIException:
    """The DRF error for an error of the protocol or the services."""
    if isinstance(exc, InvalidOrderRequest):
        return ValidationError({exc.field or api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]})
    if isinstance(exc, OrderConflict):
        return WeChatPayAPIError(str(exc), "conflict", status_code=status.HTTP_409_CONFLICT)
    if isinstance(exc, MerchantNotFound):
        # The factory named a merchant that is not configured: the shop's problem.
        return WeChatPayAPIError(
            str(exc), "merchant_not_found", status_code=status.HTTP_503_SERVICE_UNAVAILABLE
        )
    if isinstance(exc, WeChatPayServiceError):
        return WeChatPayAPIError(str(exc), "not_allowed", status_code=status.HTTP_409_CONFLICT)
    if isinstance(exc, WeChatPayError):
        code: int = status.HTTP_502_BAD_GATEWAY
        if isinstance(exc, RateLimitedError):
            code = status.HTTP_503_SERVICE_UNAVAILABLE
        elif isinstance(exc, BusinessError):
            code = status.HTTP_400_BAD_REQUEST
        return WeChatPayAPIError(
            exc.message or None,
            exc.code or type(exc).__name__,
            status_code=code,
            request_id=exc.request_id,
        )
    return WeChatPayAPIError()


def _first_message(detail: Any) -> str:
    """``"field: message"`` of the first error, so that ``message`` alone is useful."""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    if not isinstance(detail, dict):
        return str(detail)
    if not detail:
        return ""
    key, value = next(iter(detail.items()))
    text = _first_message(value)
    return text if key == api_settings.NON_FIELD_ERRORS_KEY else f"{key}: {text}"


def error_body(exc: APIException) -> dict[str, Any]:
    """The one shape of an error answer."""
    if isinstance(exc, ValidationError):
        detail = exc.detail
        if not isinstance(detail, dict):
            detail = {api_settings.NON_FIELD_ERRORS_KEY: detail}
        return {
            "code": "invalid",
            "message": _first_message(detail) or str(_("The request is not valid.")),
            "detail": detail,
        }
    codes = exc.get_codes()
    body: dict[str, Any] = {
        "code": codes if isinstance(codes, str) else exc.default_code,
        "message": str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail),
    }
    if isinstance(exc.detail, dict | list):
        # An APIException raised with structured detail (by an order factory, say).
        body["message"] = _first_message(exc.detail) or body["message"]
        body["detail"] = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        )
    request_id = getattr(exc, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The project's DRF exception handler (it sets ``WWW-Authenticate``,
    ``Retry-After``…), then the body in the API's one shape."""
    if isinstance(exc, WeChatPayError | WeChatPayServiceError):
        exc = translate(exc)
    elif isinstance(exc, Http404):
        exc = NotFound(_("No such order."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied()
    handler: Callable[[Exception, dict[str, Any]], Response | None]
    handler = api_settings.EXCEPTION_HANDLER  # type: ignore[assignment]  # imported, not str
    response = handler(exc, context)
    if response is not None and isinstance(exc, APIException):
        response.data = error_body(exc)
    return response
