"""Every error the protocol layer raises, in one hierarchy.

::

    WeChatPayError
    ├── ConfigurationError          our own setup is wrong (key material, APIv3 key, mode)
    │   └── KeyFormatError          key or certificate material that cannot be loaded
    ├── EndpointCallError           a registry call is wrong before it is sent
    │   ├── UnknownEndpointError
    │   ├── WrongModeError          a partner-only interface in direct mode, or the reverse
    │   └── ParameterError          missing, unknown or misplaced parameters
    ├── CryptoError                 a primitive failed (e.g. DecryptionError)
    ├── VerificationError           something claiming to be WeChat Pay did not verify
    │   ├── MissingHeaderError / MalformedHeaderError
    │   ├── StaleTimestampError
    │   ├── UnknownSerialError
    │   ├── BadSignatureError
    │   │   └── SignatureProbeError       the WECHATPAY/SIGNTEST/ probe
    │   ├── MalformedNotificationError
    │   ├── UnsupportedResourceError
    │   └── NotificationDecryptionError
    ├── TransportError              the request may not have reached WeChat Pay (retryable)
    │   ├── NetworkError
    │   └── RequestTimeout
    ├── APIError                    WeChat Pay answered with an error status
    │   ├── BusinessError           4xx: the request must change before it can succeed
    │   │   ├── SignatureRejectedError   401: WeChat Pay refused *our* signature
    │   │   └── NotFoundError            404
    │   ├── RateLimitedError        429, or a FREQUENCY_LIMITED code (retryable)
    │   └── ServerError             5xx (retryable)
    ├── MalformedResponseError      a 2xx that is not the JSON it should be
    └── BillError                   a downloaded bill cannot be trusted
        ├── BillFormatError         not the format of protocol §9 (line and column)
        └── BillHashMismatch        its digest differs from the signed hash_value

Every error carries ``request_id`` when WeChat Pay gave one, because that id is
what WeChat Pay's support asks for first.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "BadSignatureError",
    "BillError",
    "BillFormatError",
    "BillHashMismatch",
    "BusinessError",
    "ConfigurationError",
    "CryptoError",
    "DecryptionError",
    "EndpointCallError",
    "KeyFormatError",
    "MalformedHeaderError",
    "MalformedNotificationError",
    "MalformedResponseError",
    "MissingHeaderError",
    "NetworkError",
    "NotFoundError",
    "NotificationDecryptionError",
    "ParameterError",
    "RateLimitedError",
    "RequestTimeout",
    "ServerError",
    "SignatureProbeError",
    "SignatureRejectedError",
    "StaleTimestampError",
    "TransportError",
    "UnknownEndpointError",
    "UnknownSerialError",
    "UnsupportedResourceError",
    "VerificationError",
    "WeChatPayError",
    "WrongModeError",
    "api_error_for_status",
]


class WeChatPayError(Exception):
    """Base class of every error raised by django-wechatpay's protocol layer."""

    #: Whether repeating the same call, unchanged, may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.insert(0, f"[{self.code}]")
        if self.status is not None:
            parts.insert(0, f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"(Request-ID {self.request_id})")
        return " ".join(parts)


# --- our side --------------------------------------------------------------------------


class ConfigurationError(WeChatPayError, ValueError):
    """The merchant configuration is unusable. The message says what, never the secret."""


class KeyFormatError(ConfigurationError):
    """Key or certificate material could not be loaded."""


class EndpointCallError(WeChatPayError, ValueError):
    """A call through the endpoint registry is wrong; raised before any request is made."""


class UnknownEndpointError(EndpointCallError, LookupError):
    """No interface of that name in the registry."""


class WrongModeError(EndpointCallError):
    """The interface exists, but not for this client's mode (direct or partner)."""


class ParameterError(EndpointCallError):
    """A required parameter is missing, or one the interface does not take was given."""


class CryptoError(WeChatPayError):
    """A cryptographic primitive failed."""


class DecryptionError(CryptoError):
    """Ciphertext did not decrypt: wrong key, wrong nonce/associated data, or tampering."""


# --- verification of what WeChat Pay (or someone pretending) sent us --------------------


class VerificationError(WeChatPayError):
    """A response or notification failed verification and must not be trusted.

    ``reason`` is a stable machine-readable code, stored with rejected notifications.
    """

    reason = "verification_failed"


class MissingHeaderError(VerificationError):
    reason = "missing_header"

    def __init__(self, header: str, **kwargs: Any) -> None:
        super().__init__(f"required header {header} is missing", **kwargs)
        self.header = header


class MalformedHeaderError(VerificationError):
    reason = "malformed_header"

    def __init__(self, header: str, problem: str, **kwargs: Any) -> None:
        super().__init__(f"header {header} is malformed: {problem}", **kwargs)
        self.header = header


class StaleTimestampError(VerificationError):
    reason = "stale_timestamp"

    def __init__(self, skew: int, limit: int, **kwargs: Any) -> None:
        super().__init__(
            f"Wechatpay-Timestamp is {abs(skew)} s {'behind' if skew < 0 else 'ahead of'} "
            f"our clock; at most {limit} s is accepted",
            **kwargs,
        )
        self.skew = skew


class UnknownSerialError(VerificationError):
    reason = "unknown_serial"

    def __init__(self, serial: str, **kwargs: Any) -> None:
        super().__init__(
            f"no platform certificate or WeChat Pay public key is known for serial {serial!r}",
            **kwargs,
        )
        self.serial = serial


class BadSignatureError(VerificationError):
    reason = "bad_signature"


class SignatureProbeError(BadSignatureError):
    """WeChat Pay's signature probe: a deliberately invalid ``WECHATPAY/SIGNTEST/`` signature.

    It exists to catch merchants who do not verify; the right answer is to reject it.
    """

    reason = "signature_probe"


class MalformedNotificationError(VerificationError):
    reason = "malformed_body"


class UnsupportedResourceError(VerificationError):
    reason = "unsupported_resource"


class NotificationDecryptionError(VerificationError):
    reason = "decryption_failed"


# --- transport --------------------------------------------------------------------------


class TransportError(WeChatPayError):
    """No HTTP answer was received. For a request that was sent, its outcome is unknown."""

    retryable = True


class NetworkError(TransportError):
    """Connection refused, reset, DNS failure, TLS failure, or a proxy error."""


class RequestTimeout(TransportError):
    """Connecting or reading took longer than the configured timeout."""


# --- WeChat Pay said no -----------------------------------------------------------------


class APIError(WeChatPayError):
    """WeChat Pay answered with a non-2xx status and (usually) a ``{code, message}`` body."""


class BusinessError(APIError):
    """A 4xx answer: parameters, permissions or business rules. Retrying unchanged won't help."""


class SignatureRejectedError(BusinessError):
    """401 ``SIGN_ERROR``: WeChat Pay could not verify the signature of *our* request.

    Usually a wrong private key / serial pair, or a clock more than 5 minutes off.
    """


class NotFoundError(BusinessError):
    """404, e.g. ``ORDER_NOT_EXIST`` or ``RESOURCE_NOT_EXISTS``."""


class RateLimitedError(APIError):
    retryable = True


class ServerError(APIError):
    """5xx: WeChat Pay's own failure. Retry with the same parameters (protocol §8.3)."""

    retryable = True


class MalformedResponseError(WeChatPayError):
    """A verified 2xx response whose body is not the JSON it should be."""


#: Codes that mean "too often, try later" whatever status carries them: the refund
#: interface documents ``FREQUENCY_LIMITED`` (refunds of orders older than two months) without
#: saying it comes with a 429, and a retry must keep the same out_refund_no.
RATE_LIMIT_CODES = frozenset({"FREQUENCY_LIMITED", "RATELIMIT_EXCEEDED", "RATE_LIMITED"})


def api_error_for_status(status: int, code: str | None = None) -> type[APIError]:
    """The :class:`APIError` subclass that describes an HTTP error status (and code)."""
    if code in RATE_LIMIT_CODES and status >= 400:
        return RateLimitedError
    if status == 401:
        return SignatureRejectedError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return BusinessError
    return APIError


# --- bills ------------------------------------------------------------------------------


class BillError(WeChatPayError):
    """A downloaded bill cannot be trusted: nothing read from it should be kept."""


class BillFormatError(BillError):
    """The bill is not in the format of protocol §9.

    ``line`` is the 1-based line number in the uncompressed file (the header is line 1)
    and ``column`` the header name of the offending value, when they apply. The message
    quotes at most the offending value, never a whole line.
    """

    def __init__(self, problem: str, *, line: int | None = None, column: str | None = None) -> None:
        where = [f"line {line}"] if line is not None else []
        where += [f"column {column}"] if column is not None else []
        super().__init__(": ".join([", ".join(where), problem]) if where else problem)
        self.line = line
        self.column = column


class BillHashMismatch(BillError):
    """The digest of the uncompressed bill differs from the bill API's ``hash_value``.

    The download was truncated or altered; fetch a new ``download_url`` and try again.
    """

    retryable = True

    def __init__(self, *, hash_type: str, expected: str, actual: str) -> None:
        super().__init__(f"bill {hash_type} is {actual}, but the bill API announced {expected}")
        self.hash_type = hash_type
        self.expected = expected
        self.actual = actual
