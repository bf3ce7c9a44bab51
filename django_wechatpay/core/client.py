"""The HTTP client of WeChat Pay API v3.

What it guarantees (protocol §1-§2):

- It signs exactly the bytes it sends. A JSON body is serialised once and those bytes
  are both signed and sent; a call without a body sends nothing and signs ``''``; a
  query string is percent-encoded once and signed as sent.
- It never returns unverified data: every 2xx response (bill file downloads excepted,
  WeChat Pay does not sign those) must carry a valid WeChat Pay signature no more than
  300 s off our clock, or the call raises.
- Every result and every error carries WeChat Pay's ``Request-ID``.

Retries (see :meth:`WeChatPayClient.request`): a request that certainly never left
(connection refused, connect timeout) is retried whatever its method. A request that may
have reached WeChat Pay is retried, after a 429/5xx or a read timeout or reset, only
when it is idempotent: GETs, and POSTs whose body carries the merchant's idempotency
key (``out_trade_no``, ``out_refund_no``…), which the caller declares with
``idempotent=True``. WeChat Pay asks for exactly this: retry 5xx "with the same
parameters" (protocol §8.3). Each attempt is signed anew because the Authorization
header carries a timestamp and nonce; that is why this is a loop here and not urllib3's
``Retry``, which would replay the first attempt's header.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import __version__
from .crypto import apiv3_key_bytes, oaep_decrypt, oaep_encrypt
from .endpoints import ENDPOINTS, PreparedCall, encrypt_fields, endpoint, prepare
from .endpoints.spec import Mode
from .errors import (
    APIError,
    ConfigurationError,
    MalformedResponseError,
    NetworkError,
    RequestTimeout,
    TransportError,
    WeChatPayError,
    api_error_for_status,
)
from .headers import REQUEST_ID, canonical_headers
from .keys import KeySource
from .redaction import redacted_body
from .signing import Signer
from .verifier import (
    CertificateStore,
    InMemoryCertificateStore,
    PlatformCertificate,
    Verifier,
    WeChatPayPublicKey,
    decrypt_certificates,
)

logger = logging.getLogger("django_wechatpay.core.client")

DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
#: (connect, read) seconds. WeChat Pay answers well inside this; a stuck read must not
#: hold a worker for minutes.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)
USER_AGENT = f"django-wechatpay/{__version__} (+https://pypi.org/project/django-wechatpay/)"

QueryValue = str | int | bool
Query = Mapping[str, QueryValue | None] | Sequence[tuple[str, QueryValue | None]]


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


def serialise_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, the bytes that are both signed and sent."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class ApiResponse:
    """A verified answer from WeChat Pay."""

    status: int
    data: Any
    headers: Mapping[str, str] = field(repr=False)
    request_id: str | None
    raw_body: bytes = field(default=b"", repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if isinstance(self.data, dict) else default


@dataclass(frozen=True)
class Upload:
    """A multipart upload: WeChat Pay signs the ``meta`` JSON, not the multipart body."""

    filename: str
    content: bytes
    content_type: str
    meta: str


class WeChatPayClient:
    """One merchant's connection to WeChat Pay.

    ``verification`` picks who may sign responses: ``"certificate"`` (platform
    certificates from ``/v3/certificates``), ``"public_key"`` (the WeChat Pay public key
    given as ``public_key``), or ``"both"`` during the migration between them. By default
    it is ``"public_key"`` when a public key is given and ``"certificate"`` otherwise.
    """

    def __init__(
        self,
        *,
        mchid: str,
        private_key: rsa.RSAPrivateKey | KeySource,
        serial_no: str,
        apiv3_key: str | bytes,
        appid: str | None = None,
        notify_url: str | None = None,
        partner: bool = False,
        public_key: WeChatPayPublicKey | None = None,
        verification: Literal["certificate", "public_key", "both"] | None = None,
        certificate_store: CertificateStore | None = None,
        verifier: Verifier | None = None,
        api_base: str = DEFAULT_API_BASE,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        proxies: Mapping[str, str] | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        user_agent: str = USER_AGENT,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        certificate_refresh_interval: float = 60.0,
    ) -> None:
        self.mchid = str(mchid)
        self.appid = appid
        self.notify_url = notify_url
        self.mode: Mode = "partner" if partner else "direct"
        self.apiv3_key = apiv3_key_bytes(apiv3_key)
        self.signer = Signer(self.mchid, serial_no, private_key, clock=clock)
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.user_agent = user_agent
        self.clock = clock
        self.session = session or requests.Session()
        if proxies:
            self.session.proxies.update(proxies)
        #: Proxies per origin, resolved once: requests would read the environment's
        #: *_PROXY / NO_PROXY on every send, about a third of a millisecond a call.
        self._proxies: dict[str, dict[str, str]] = {}

        if verification is None:
            verification = "public_key" if public_key is not None else "certificate"
        if verification in ("public_key", "both") and public_key is None:
            raise ConfigurationError(
                f"verification {verification!r} needs the WeChat Pay public key"
            )
        if verifier is None:
            verifier = Verifier(
                certificate_store if certificate_store is not None else InMemoryCertificateStore(),
                public_key=public_key,
                use_certificates=verification != "public_key",
                refresh_interval=certificate_refresh_interval,
                clock=clock,
            )
        if verifier.refresher is None and verifier.use_certificates:
            verifier.refresher = self.refresh_certificates
        self.verifier = verifier

    def __repr__(self) -> str:
        return f"<WeChatPayClient mchid={self.mchid} mode={self.mode} api_base={self.api_base}>"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> WeChatPayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one way out -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        json: Any = None,
        upload: Upload | None = None,
        wechatpay_serial: str | None = None,
        idempotent: bool | None = None,
        verify: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one signed call and return its verified, parsed answer.

        ``json=None`` sends no body at all (and signs ``''``); pass ``{}`` only where an
        interface really wants an empty object. ``idempotent`` defaults to True for GET.
        """
        method = method.upper()
        target = self._target(path, query)
        body = b"" if json is None else serialise_json(json)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        response = self._send_with_retries(
            method,
            target,
            body,
            upload,
            wechatpay_serial,
            idempotent,
            stream=False,
            headers=headers,
        )
        return self._handle(response, verify=verify)

    def get(self, path: str, *, query: Query | None = None, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, query=query, **kwargs)

    def post(self, path: str, *, json: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json=json, **kwargs)

    def download(self, url: str, *, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Stream a bill file from the ``download_url`` WeChat Pay gave.

        The request is signed like any other; the response is not signed by WeChat Pay
        (protocol §6.4), so integrity comes from the ``hash_value`` of the bill API's
        signed answer, which the caller must check over the *decompressed* bytes.
        """
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else self.api_base
        response = self._send_with_retries(
            "GET", target, b"", None, None, True, stream=True, base=base
        )
        request_id = response.headers.get("Request-ID")
        if not 200 <= response.status_code < 300:
            try:
                self._raise_for_status(response, response.content, request_id)
            finally:
                response.close()

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_content(chunk_size)
            except requests.RequestException as exc:
                raise NetworkError(
                    f"bill download interrupted: {exc}", request_id=request_id
                ) from exc
            finally:
                response.close()

        return chunks()

    # --- the endpoint registry -------------------------------------------------------------

    def call(self, name: str, /, **params: Any) -> ApiResponse | bytes:
        """Call any interface of the reference list by its ``wechatpayv3`` name.

        ``params`` are the official field names: path, query and top-level body fields
        alike (see the generated table in the docs). ``appid``/``mchid``/``notify_url``
        (``sp_*`` for partners) default to this client's. Sensitive fields are encrypted
        and ``Wechatpay-Serial`` is set. A wrong call raises
        :class:`~django_wechatpay.core.errors.EndpointCallError` before any request.
        Binary downloads return the bytes; everything else the verified
        :class:`ApiResponse`.
        """
        settings = {"appid": self.appid, "mchid": self.mchid, "notify_url": self.notify_url}
        return self.send(prepare(endpoint(name), self.mode, params, settings))

    @property
    def api(self) -> EndpointNamespace:
        """The registry as methods: ``client.api.profitsharing_order(...)``."""
        return EndpointNamespace(self)

    def send(self, call: PreparedCall) -> ApiResponse | bytes:
        """Send a call prepared from the registry (see :meth:`call`)."""
        if call.response == "binary":
            url = call.path + (f"?{encode_query(call.query)}" if call.query else "")
            return b"".join(self.download(url))
        body, query, serial = call.json, call.query, None
        if call.sensitive and (body is not None or query):
            serial, key = self.verifier.encryption_key()
            seal = partial(oaep_encrypt, key)
            if body is not None:
                body = encrypt_fields(body, call.sensitive, seal)
            # A sensitive query parameter (guides_query's mobile) is sealed the same way.
            query = tuple(
                (n, seal(v) if n in call.sensitive and isinstance(v, str) else v) for n, v in query
            )
        upload = None
        if call.upload is not None:
            parts = call.upload
            upload = Upload(parts.filename, parts.content, parts.content_type, parts.meta)
        return self.request(
            call.method,
            call.path,
            query=query,
            json=body,
            upload=upload,
            wechatpay_serial=serial,
            idempotent=call.idempotent,
            headers=dict(call.headers),
        )

    # --- certificates --------------------------------------------------------------------

    def refresh_certificates(self) -> list[PlatformCertificate]:
        """Download, decrypt, verify and store the platform certificates.

        The download's own signature is checked with the certificates already known plus
        the ones just decrypted. The latter is sound even on a first download: only
        someone holding our APIv3 key (WeChat Pay) can produce a ciphertext that opens.
        """
        response = self.request("GET", "/v3/certificates", verify=False)
        certificates = decrypt_certificates(response.data, self.apiv3_key)
        known = self.verifier.certificates(reload=True).values()
        checker = Verifier(
            InMemoryCertificateStore([*known, *certificates]),
            public_key=self.verifier.public_key,
            clock=self.clock,
        )
        checker.verify_signed(canonical_headers(response.headers), response.raw_body)
        stored = self.verifier.accept_download(certificates)
        logger.info(
            "platform certificates refreshed for %s: %s",
            self.mchid,
            ", ".join(f"{c.serial_no} (expires {c.expire_time:%Y-%m-%d})" for c in stored),
        )
        return stored

    # --- sensitive fields ------------------------------------------------------------------

    def encrypt(self, plaintext: str) -> tuple[str, str]:
        """Encrypt a sensitive field; returns ``(ciphertext, serial)``.

        ``serial`` must be sent as ``Wechatpay-Serial`` with the request that carries the
        ciphertext, and one request must not mix serials (protocol §5).
        """
        serial, key = self.verifier.encryption_key()
        return oaep_encrypt(key, plaintext), serial

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt a sensitive field WeChat Pay encrypted to the merchant's certificate."""
        return oaep_decrypt(self.signer.private_key, ciphertext)

    # --- internals -------------------------------------------------------------------------

    def _target(self, path: str, query: Query | None) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        encoded = encode_query(query)
        return f"{path}?{encoded}" if encoded else path

    def _headers(
        self, method: str, target: str, signed: bytes, serial: str | None
    ) -> dict[str, str]:
        headers = {
            "Authorization": self.signer.authorization(method, target, signed),
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        serial = serial or self.verifier.accept_serial()
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
    ) -> requests.PreparedRequest:
        if upload is not None:
            headers = self._headers(method, target, upload.meta.encode("utf-8"), serial)
            request = requests.Request(
                method,
                base + target,
                headers=headers,
                files={
                    "meta": (None, upload.meta.encode("utf-8"), "application/json"),
                    "file": (upload.filename, upload.content, upload.content_type),
                },
            )
        else:
            headers = self._headers(method, target, body, serial)
            if body:
                headers["Content-Type"] = "application/json"
            request = requests.Request(method, base + target, headers=headers, data=body or None)
        prepared = self.session.prepare_request(request)
        # requests re-quotes URLs; pin the exact target we signed.
        prepared.url = base + target
        return prepared

    def _proxies_for(self, base: str) -> dict[str, str]:
        proxies = self._proxies.get(base)
        if proxies is None:
            proxies = dict(self.session.proxies)
            if self.session.trust_env:
                proxies = {**requests.utils.get_environ_proxies(base), **proxies}
            self._proxies[base] = proxies
        return proxies

    def _send_with_retries(
        self,
        method: str,
        target: str,
        body: bytes,
        upload: Upload | None,
        serial: str | None,
        idempotent: bool,
        *,
        stream: bool,
        base: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        base = base or self.api_base
        attempt = 0
        while True:
            prepared = self._prepare(method, base, target, body, upload, serial)
            # Not signed (only the method, target, time, nonce and body are): e.g. the
            # Idempotency-Key some marketing interfaces require.
            prepared.headers.update(headers or {})
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("-> %s %s%s %s", method, base, target, redacted_body(body))
            started = time.monotonic()
            try:
                response = self.session.send(
                    prepared, timeout=self.timeout, stream=stream, proxies=self._proxies_for(base)
                )
            except requests.RequestException as exc:
                error = self._transport_error(exc)
                never_sent = _never_sent(exc)
                if attempt < self.retries and (idempotent or never_sent):
                    attempt += 1
                    self._sleep(attempt, None)
                    logger.warning(
                        "retrying %s %s after %s (attempt %d)", method, target, error, attempt
                    )
                    continue
                raise error from exc
            elapsed = time.monotonic() - started
            logger.debug(
                "<- %s %s %d in %.0f ms, Request-ID %s",
                method,
                target,
                response.status_code,
                elapsed * 1000,
                response.headers.get("Request-ID"),
            )
            if (
                (response.status_code == 429 or response.status_code >= 500)
                and idempotent
                and attempt < self.retries
            ):
                attempt += 1
                retry_after = response.headers.get("Retry-After")
                response.close()
                self._sleep(attempt, retry_after)
                logger.warning(
                    "retrying %s %s after HTTP %d (attempt %d)",
                    method,
                    target,
                    response.status_code,
                    attempt,
                )
                continue
            return response

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if self.backoff <= 0:
            return
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)  # noqa: S311 -- jitter, not a secret
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)

    @staticmethod
    def _transport_error(exc: requests.RequestException) -> TransportError:
        if isinstance(exc, requests.Timeout):
            return RequestTimeout(f"WeChat Pay did not answer in time: {exc}")
        return NetworkError(f"could not talk to WeChat Pay: {exc}")

    def _handle(self, response: requests.Response, *, verify: bool) -> ApiResponse:
        content = response.content
        headers = canonical_headers(response.headers)
        request_id = headers.get(REQUEST_ID)
        if not 200 <= response.status_code < 300:
            self._raise_for_status(response, content, request_id)
        if verify:
            self.verifier.verify_signed(headers, content)
        logger.debug("<- body %s", redacted_body(content))
        data: Any = None
        if content:
            try:
                data = json.loads(content)
            except ValueError:
                raise MalformedResponseError(
                    f"HTTP {response.status_code} body is not JSON", request_id=request_id
                ) from None
        return ApiResponse(response.status_code, data, headers, request_id, content)

    @staticmethod
    def _raise_for_status(
        response: requests.Response, content: bytes, request_id: str | None
    ) -> None:
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
        error_class: type[APIError] = api_error_for_status(response.status_code)
        raise error_class(
            message or response.reason or "error",
            status=response.status_code,
            code=code,
            detail=detail,
            request_id=request_id,
        )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when no connection was established, so WeChat Pay cannot have seen the call."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


__all__ = [
    "DEFAULT_API_BASE",
    "ApiResponse",
    "Upload",
    "WeChatPayClient",
    "WeChatPayError",
    "encode_query",
]


class EndpointNamespace:
    """Attribute access to the registry: ``client.api.<name>(**params)``."""

    def __init__(self, client: WeChatPayClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., ApiResponse | bytes]:
        if name.startswith("_"):
            raise AttributeError(name)
        endpoint(name)  # an unknown name fails here, not at call time

        def call(**params: Any) -> ApiResponse | bytes:
            return self._client.call(name, **params)

        call.__name__ = name
        return call

    def __dir__(self) -> list[str]:
        return sorted(ENDPOINTS)
