"""Signing and sending: the one way a request leaves for WeChat Pay.

What it guarantees (protocol §1):

- It signs exactly the bytes it sends. A JSON body is serialised once and those bytes
  are both signed and sent; a call without a body sends nothing and signs ``''``.
- The request-target it signs is the one that travels. urllib3 re-encodes a path or
  query it finds invalid (``|`` becomes ``%7C``, a stray ``%`` becomes ``%25``, ``..``
  segments are removed) *after* we signed it, and WeChat Pay then rejects the signature.
  :func:`normalise_target` applies that encoding first, so the send changes nothing.

Retries: a request that certainly never left (connection refused, connect timeout) is
retried whatever its method. A request that may have reached WeChat Pay is retried,
after a 429/5xx or a read timeout or reset, only when it is idempotent: GETs, and POSTs
whose body carries the merchant's idempotency key (``out_trade_no``, ``out_refund_no``…).
WeChat Pay asks for exactly this: retry 5xx "with the same parameters" (protocol §8.3).
Each attempt is signed anew because the Authorization header carries a timestamp and
nonce; that is why this is a loop here and not urllib3's ``Retry``, which would replay
the first attempt's header.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import requests
import urllib3
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

from .. import __version__
from .errors import (
    APIError,
    NetworkError,
    ParameterError,
    RequestTimeout,
    TransportError,
    api_error_for_status,
)
from .redaction import redacted_body
from .signing import Signer

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "Query",
    "Transport",
    "Upload",
    "encode_query",
    "normalise_target",
    "serialise_json",
]

logger = logging.getLogger("django_wechatpay.core.client")

DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
#: (connect, read) seconds. WeChat Pay answers well inside this; a stuck read must not
#: hold a worker for minutes.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)
USER_AGENT = f"django-wechatpay/{__version__} (+https://pypi.org/project/django-wechatpay/)"
#: At most this long is waited for a ``Retry-After``, whatever the server asks.
MAX_RETRY_AFTER = 30.0

QueryValue = str | int | bool | Mapping[str, Any] | Sequence[Any]
Query = Mapping[str, QueryValue | None] | Sequence[tuple[str, QueryValue | None]]

# RFC 3986 pchar minus "%": what urllib3 leaves alone in a path (its PATH_CHARS).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# What _encode_path changes: an escape (upper-cased) or one character outside ASCII
# letters, digits and _PATH_SAFE (quoted). One regex pass instead of a quote() call per
# character, which cost ~60 us on every path.
_PATH_REWRITE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9/:@!$&'()*+,;=\-._~]")
_RETRY_AFTER = re.compile(r"[0-9]{1,6}")


def encode_query(query: Query | None) -> str:
    """Percent-encode a query string once, RFC 3986 style; ``None`` values are dropped."""
    if not query:
        return ""
    items = query.items() if isinstance(query, Mapping) else query
    parts = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict | list):
            # Object-valued parameters (marketing_partnership_query's partner) go as JSON.
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            text = str(value)
        parts.append(f"{quote(str(key), safe='')}={quote(text, safe='')}")
    return "&".join(parts)


def _rewrite_path_part(match: re.Match[str]) -> str:
    text = match.group(0)
    return text.upper() if len(text) == 3 else quote(text, safe=_PATH_SAFE)


def _encode_path(path: str) -> str:
    """Percent-encode what is not allowed raw in a path; keep valid escapes (upper-cased)."""
    return _PATH_REWRITE.sub(_rewrite_path_part, path)


def normalise_target(path: str, query: Query | None = None) -> str:
    """The request-target exactly as it will travel: what must be signed.

    Characters that would be re-encoded in transit (``|``, spaces, non-ASCII, a ``%``
    that starts no escape) are encoded here; escapes already present are kept. ``.`` and
    ``..`` segments are refused: they would be resolved away before sending.
    """
    if not path.startswith("/"):
        raise ParameterError(f"path must start with '/': {path!r}")
    raw_path, _, raw_query = path.partition("?")
    # Splitting only when a segment can start with a dot keeps the common path cheap.
    if "/." in raw_path and any(segment in (".", "..") for segment in raw_path.split("/")):
        raise ParameterError(f"path has a '.' or '..' segment: {path!r}")
    target = _encode_path(raw_path)
    queries = [q for q in (_encode_path(raw_query) if raw_query else "", encode_query(query)) if q]
    return target + ("?" + "&".join(queries) if queries else "")


def serialise_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, the bytes that are both signed and sent."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Upload:
    """A multipart upload: WeChat Pay signs the ``meta`` JSON, not the multipart body."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str
    meta: str


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds, or None: only plain ASCII digits count."""
    if value is None or not _RETRY_AFTER.fullmatch(value.strip()):
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER)


class Transport:
    """One merchant's signed HTTP connection to WeChat Pay (no verification: that is the
    client's, through its verifier)."""

    def __init__(
        self,
        signer: Signer,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        proxies: Mapping[str, str] | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        user_agent: str = USER_AGENT,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.signer = signer
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.user_agent = user_agent
        self.session = session or requests.Session()
        self.sleep = sleep
        if proxies:
            self.session.proxies.update(proxies)
        #: Proxies per origin, resolved once: requests would read the environment's
        #: *_PROXY / NO_PROXY on every send, about a third of a millisecond a call.
        self._environment: dict[str, dict[str, Any]] = {}
        #: Origins whose URL requests has parsed once (see _prepare).
        self._checked_bases: set[str] = set()

    def __repr__(self) -> str:
        return f"<Transport mchid={self.signer.mchid} api_base={self.api_base}>"

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        upload: Upload | None = None,
        serial: str | None = None,
        idempotent: bool,
        stream: bool = False,
        base: str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> requests.Response:
        """Send ``target`` (already normalised) and return the raw answer, any status.

        Raises :class:`TransportError` when no answer came after the retries allowed.
        """
        base = base or self.api_base
        attempt = 0
        while True:
            prepared = self._prepare(method, base, target, body, upload, serial, signed)
            # Not signed (only the method, target, time, nonce and body are): e.g. the
            # Idempotency-Key some marketing interfaces require.
            if headers:
                prepared.headers.update(headers)
            # Asked once per attempt: the answer's debug line has arguments that cost.
            debug = logger.isEnabledFor(logging.DEBUG)
            if debug:
                logger.debug("-> %s %s%s %s", method, base, target, redacted_body(body))
            started = time.monotonic()
            try:
                response = self.session.send(
                    prepared, timeout=self.timeout, stream=stream, **self._environment_for(base)
                )
            except requests.RequestException as exc:
                error = _transport_error(exc)
                if attempt < self.retries and (idempotent or _never_sent(exc)):
                    attempt += 1
                    self._wait(attempt, None)
                    logger.warning(
                        "retrying %s %s after %s (attempt %d)", method, target, error, attempt
                    )
                    continue
                raise error from exc
            if debug:
                logger.debug(
                    "<- %s %s %d in %.0f ms, Request-ID %s",
                    method,
                    target,
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                    response.headers.get("Request-ID"),
                )
            status = response.status_code
            if (status == 429 or status >= 500) and idempotent and attempt < self.retries:
                attempt += 1
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                response.close()
                self._wait(attempt, retry_after)
                logger.warning(
                    "retrying %s %s after HTTP %d (attempt %d)", method, target, status, attempt
                )
                continue
            return response

    # --- internals -------------------------------------------------------------------------

    def _headers(
        self, method: str, target: str, signed_bytes: bytes, serial: str | None, signed: bool
    ) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if signed:
            headers["Authorization"] = self.signer.authorization(method, target, signed_bytes)
        if serial:
            headers["Wechatpay-Serial"] = serial
        return headers

    def _prepare(
        self,
        method: str,
        base: str,
        target: str,
        body: bytes,
        upload: Upload | None,
        serial: str | None,
        signed: bool,
    ) -> requests.PreparedRequest:
        """What ``session.prepare_request`` built, built directly.

        prepare_request cost about 0.2 ms a call (cookie-jar copies, URL parsing, header
        merging through protocol checks) for a request whose URL, body and headers are
        already final. The session's part is kept: its headers (ours win, ``None``
        removes one), cookies, ``auth`` and hooks. Not kept: the ``~/.netrc`` lookup,
        whose Basic credentials would have replaced our signature.
        """
        url = base + target
        if base not in self._checked_bases:
            # requests' own errors (MissingSchema, InvalidURL) for a malformed API base,
            # raised before anything is sent, as prepare_request raised them.
            requests.PreparedRequest().prepare_url(url, None)
            self._checked_bases.add(base)
        method = method.upper()
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.method = method
        # requests would re-quote the URL by its own rules; the target is already what
        # urllib3 sends, and what we signed.
        prepared.url = url
        signed_bytes = body if upload is None else upload.meta.encode("utf-8")
        own = self._headers(method, target, signed_bytes, serial, signed)
        if upload is None and body:
            own["Content-Type"] = "application/json"
        # The stubs type a session's header values str | bytes but a prepared request's
        # str; requests sends either as it is.
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            cast("Mapping[str, str]", session.headers)
        )
        headers.update(own)
        for name in [name for name, value in headers.items() if value is None]:
            del headers[name]
        for header in headers.items():
            check_header_validity(header)  # as prepare_headers: no injected lines
        prepared.headers = headers
        # In prepare()'s order: cookies, body, auth, hooks.
        if session.cookies:
            prepared.prepare_cookies(session.cookies.copy())
        else:
            # Session.send and redirects read and copy the request's jar (an attribute
            # the type stubs do not declare).
            prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        if upload is not None:
            prepared.prepare_body(
                None,
                {
                    "meta": (None, signed_bytes, "application/json"),
                    "file": (upload.filename, upload.content, upload.content_type),
                },
            )
        elif body:
            prepared.body = body
            headers["Content-Length"] = str(len(body))
        elif method not in ("GET", "HEAD") and headers.get("Content-Length") is None:
            headers["Content-Length"] = "0"  # as requests: a POST without body says so
        if session.auth:
            prepared.prepare_auth(session.auth, url)
        if session.hooks.get("response"):
            prepared.prepare_hooks(session.hooks)
        return prepared

    def _environment_for(self, base: str) -> dict[str, Any]:
        """What ``Session.request`` would take from the environment for ``base``: proxies
        (``HTTP(S)_PROXY``, ``NO_PROXY``), the CA bundle (``REQUESTS_CA_BUNDLE``,
        ``CURL_CA_BUNDLE``) and the client certificate, merged with the session's own.

        ``Session.send`` reads none of it, and requests would re-read it on every call:
        it is resolved once per origin.
        """
        settings = self._environment.get(base)
        if settings is None:
            merged = self.session.merge_environment_settings(base, {}, None, None, None)
            settings = {
                "proxies": merged["proxies"],
                "verify": merged["verify"],
                "cert": merged["cert"],
            }
            self._environment[base] = settings
        return settings

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        if self.backoff <= 0:
            return
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)  # noqa: S311 -- jitter, not a secret
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.sleep(delay)


def raise_for_status(response: requests.Response, content: bytes) -> None:
    """Raise the typed :class:`APIError` of a non-2xx answer (WeChat Pay's code, message,
    detail and Request-ID)."""
    if 200 <= response.status_code < 300:
        return
    code = message = None
    detail: Any = None
    try:
        payload = json.loads(content) if content else {}
        if isinstance(payload, dict):
            code, message, detail = (
                payload.get("code"),
                payload.get("message"),
                payload.get("detail"),
            )
    except ValueError:
        pass
    error_class: type[APIError] = api_error_for_status(
        response.status_code, str(code) if code is not None else None
    )
    raise error_class(
        str(message or response.reason or "error"),
        status=response.status_code,
        code=str(code) if code is not None else None,
        detail=detail,
        request_id=response.headers.get("Request-ID"),
    )


def _transport_error(exc: requests.RequestException) -> TransportError:
    if isinstance(exc, requests.Timeout):
        return RequestTimeout(f"WeChat Pay did not answer in time: {exc}")
    return NetworkError(f"could not talk to WeChat Pay: {exc}")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when no connection was established, so WeChat Pay cannot have seen the call."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
