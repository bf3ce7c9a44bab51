"""The client of WeChat Pay API v3: every interface by name, every answer verified.

What it guarantees (protocol §1-§2), on top of :mod:`.transport`:

- It never returns unverified data: every 2xx answer must carry a valid WeChat Pay
  signature no more than 300 s off our clock, or the call raises. The exceptions are
  declared in the registry (files, and the ``certificates`` list, which its downloader checks
  with the certificates it delivers).
- Every result and every error carries WeChat Pay's ``Request-ID``.
- Who may sign as WeChat Pay is the :class:`~.verifier.Verifier` it was given; the
  client never asks which kind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from .certificates import CertificateStore, InMemoryCertificateStore, PlatformCertificate
from .crypto import apiv3_key_bytes, oaep_decrypt, oaep_encrypt
from .endpoints import ENDPOINTS, PreparedCall, encrypt_fields, endpoint, prepare
from .endpoints.spec import Mode
from .errors import (
    ConfigurationError,
    MalformedResponseError,
    NetworkError,
    ParameterError,
    WeChatPayError,
)
from .headers import REQUEST_ID, canonical_headers
from .keys import KeySource
from .redaction import redacted_body
from .signing import Signer
from .transport import (
    DEFAULT_API_BASE,
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Query,
    Transport,
    Upload,
    encode_query,
    normalise_target,
    raise_for_status,
    serialise_json,
)
from .verifier import (
    CertificateDownloader,
    CertificateVerifier,
    CombinedVerifier,
    PublicKeyVerifier,
    Verifier,
    WeChatPayPublicKey,
)

__all__ = [
    "DEFAULT_API_BASE",
    "ApiResponse",
    "EndpointNamespace",
    "Upload",
    "WeChatPayClient",
    "WeChatPayError",
    "encode_query",
]

logger = logging.getLogger("django_wechatpay.core.client")


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

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an answer of any other shape is malformed."""
        if not isinstance(self.data, dict):
            raise MalformedResponseError(
                "the answer is not a JSON object", request_id=self.request_id
            )
        return self.data


class WeChatPayClient:
    """One merchant's connection to WeChat Pay.

    ``verifier`` says who may sign answers (see :mod:`.verifier`). Without one, the
    client trusts what it is given: the WeChat Pay public key (``public_key``), platform
    certificates (kept in ``certificate_store``, memory by default, and downloaded on
    demand with this client's credentials), or both when both are given (the migration
    from certificates to the public key).
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
        verifier: Verifier | None = None,
        public_key: WeChatPayPublicKey | None = None,
        certificate_store: CertificateStore | None = None,
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
        transport = Transport(
            Signer(str(mchid), serial_no, private_key, clock=clock),
            api_base=api_base,
            timeout=timeout,
            proxies=proxies,
            retries=retries,
            backoff=backoff,
            user_agent=user_agent,
            session=session,
        )
        if verifier is not None and (public_key is not None or certificate_store is not None):
            raise ConfigurationError("give a verifier, or a public key and/or certificate store")
        if verifier is None:
            verifier = _default_verifier(
                transport, apiv3_key, public_key, certificate_store, certificate_refresh_interval
            )
        self._setup(transport, verifier, apiv3_key, appid, notify_url, partner)

    @classmethod
    def from_transport(
        cls,
        transport: Transport,
        *,
        verifier: Verifier,
        apiv3_key: str | bytes,
        appid: str | None = None,
        notify_url: str | None = None,
        partner: bool = False,
    ) -> WeChatPayClient:
        """A client on a transport built elsewhere (shared with a certificate downloader)."""
        client = cls.__new__(cls)
        client._setup(transport, verifier, apiv3_key, appid, notify_url, partner)
        return client

    def _setup(
        self,
        transport: Transport,
        verifier: Verifier,
        apiv3_key: str | bytes,
        appid: str | None,
        notify_url: str | None,
        partner: bool,
    ) -> None:
        self.transport = transport
        self.signer = transport.signer
        self.mchid = transport.signer.mchid
        self.verifier = verifier
        self.apiv3_key = apiv3_key_bytes(apiv3_key)
        self.appid = appid
        self.notify_url = notify_url
        self.mode: Mode = "partner" if partner else "direct"

    @property
    def api_base(self) -> str:
        return self.transport.api_base

    def __repr__(self) -> str:
        return f"<WeChatPayClient mchid={self.mchid} mode={self.mode} api_base={self.api_base}>"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> WeChatPayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the endpoint registry -------------------------------------------------------------

    def call(self, name: str, /, **params: Any) -> ApiResponse:
        """Call any interface of the reference list by its ``wechatpayv3`` name.

        ``params`` are the official field names: path, query and top-level body fields
        alike (see the generated table in the docs). ``appid``/``mchid``/``notify_url``
        (``sp_*`` for partners) default to this client's. Sensitive fields are encrypted
        and ``Wechatpay-Serial`` is set. A wrong call raises
        :class:`~django_wechatpay.core.errors.EndpointCallError` before any request.
        Interfaces that answer with a file are called with :meth:`call_binary`.
        """
        call = self.prepare(name, params)
        if call.response == "binary":
            raise ParameterError(f"{name} answers with a file: use call_binary()")
        return self._send(call)

    def call_binary(self, name: str, /, **params: Any) -> bytes:
        """Call an interface that answers with a file (bills, media, fapiao files)."""
        return b"".join(self.call_stream(name, **params))

    def call_stream(
        self, name: str, /, *, chunk_size: int = 64 * 1024, **params: Any
    ) -> Iterator[bytes]:
        """Like :meth:`call_binary`, as a stream of chunks: a bill never held whole.

        Files are not signed by WeChat Pay (protocol §6.4): integrity comes from a hash
        in a signed answer (a bill's ``hash_value``), which the caller checks.
        """
        call = self.prepare(name, params)
        if call.response != "binary":
            raise ParameterError(f"{name} answers with JSON: use call()")
        return self._stream(call, chunk_size)

    def prepare(self, name: str, params: Mapping[str, Any]) -> PreparedCall:
        """The request ``call(name, **params)`` would send, checked, not yet signed."""
        settings = {"appid": self.appid, "mchid": self.mchid, "notify_url": self.notify_url}
        return prepare(endpoint(name), self.mode, params, settings)

    @property
    def api(self) -> EndpointNamespace:
        """The registry as methods: ``client.api.profitsharing_order(...)``."""
        return EndpointNamespace(self)

    # --- any path ----------------------------------------------------------------------------

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
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send one signed call to ``path`` and return its verified, parsed answer.

        For interfaces the registry does not know yet. The path may hold any character:
        it is percent-encoded the way it will travel, and signed so. ``json=None`` sends
        no body at all (and signs ``''``). ``idempotent`` defaults to True for GET.
        """
        method = method.upper()
        response = self.transport.send(
            method,
            normalise_target(path, query),
            body=b"" if json is None else serialise_json(json),
            upload=upload,
            serial=wechatpay_serial or self.verifier.accept_serial(),
            idempotent=method in ("GET", "HEAD") if idempotent is None else idempotent,
            headers=headers,
        )
        return self._answer(response, verify=True)

    def get(self, path: str, *, query: Query | None = None, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, query=query, **kwargs)

    def post(self, path: str, *, json: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json=json, **kwargs)

    def download(self, url: str, *, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Stream a bill file from the ``download_url`` WeChat Pay gave (a signed GET; an
        absolute URL, or a path on this client's API base).

        The URL must be https unless the API base itself is plain http (the simulator):
        the request is signed, and the file is the merchant's every trade of a day.
        """
        schemes = ("https://", "http://") if self.api_base.startswith("http://") else ("https://",)
        if not url.startswith("/") and not url.lower().startswith(schemes):
            raise ParameterError(
                f"refusing to download from {url[:80]!r}: not https (plain http only when "
                "the API base is, as the simulator's)"
            )
        call = PreparedCall(
            name="download_bill", method="GET", path=url, response="binary", verified=False
        )
        return self._stream(call, chunk_size)

    # --- certificates and sensitive fields ---------------------------------------------------

    def refresh_certificates(self) -> list[PlatformCertificate]:
        """Download the platform certificates now and make them the trusted set."""
        return self.verifier.refresh_certificates()

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

    def _send(self, call: PreparedCall) -> ApiResponse:
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
        response = self.transport.send(
            call.method,
            normalise_target(call.path, query),
            body=b"" if body is None else serialise_json(body),
            upload=upload,
            serial=serial or (self.verifier.accept_serial() if call.verified else None),
            idempotent=call.idempotent,
            headers=dict(call.headers) if call.headers else None,
            signed=call.signed,
        )
        return self._answer(response, verify=call.verified)

    def _stream(self, call: PreparedCall, chunk_size: int) -> Iterator[bytes]:
        base, target = _split_url(call.path)
        extra = encode_query(call.query)
        if extra:
            target += ("&" if "?" in target else "?") + extra
        response = self.transport.send(
            call.method,
            normalise_target(target),
            idempotent=True,
            stream=True,
            base=base,
            signed=call.signed,
        )
        request_id = response.headers.get("Request-ID")
        if not 200 <= response.status_code < 300:
            try:
                raise_for_status(response, response.content)
            finally:
                response.close()

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_content(chunk_size)
            except requests.RequestException as exc:
                raise NetworkError(f"download interrupted: {exc}", request_id=request_id) from exc
            finally:
                response.close()

        return chunks()

    def _answer(self, response: requests.Response, *, verify: bool) -> ApiResponse:
        content = response.content
        headers = canonical_headers(response.headers)
        request_id = headers.get(REQUEST_ID)
        raise_for_status(response, content)
        if verify:
            self.verifier.verify_signed(headers, content)
        if logger.isEnabledFor(logging.DEBUG):  # redacting parses the body: only when logged
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


def _default_verifier(
    transport: Transport,
    apiv3_key: str | bytes,
    public_key: WeChatPayPublicKey | None,
    store: CertificateStore | None,
    refresh_interval: float,
) -> Verifier:
    clock = transport.signer.clock
    by_key = PublicKeyVerifier(public_key, clock=clock) if public_key is not None else None
    if by_key is not None and store is None:
        return by_key
    by_certificates = CertificateVerifier(
        store if store is not None else InMemoryCertificateStore(),
        downloader=CertificateDownloader(transport, apiv3_key, public_key=public_key, clock=clock),
        refresh_interval=refresh_interval,
        clock=clock,
    )
    return by_certificates if by_key is None else CombinedVerifier(by_key, by_certificates)


def _split_url(url: str) -> tuple[str | None, str]:
    """``(origin, target)`` of a URL WeChat Pay handed out; a bare path has no origin."""
    if url.startswith("/"):
        return None, url
    scheme, _, rest = url.partition("://")
    host, slash, target = rest.partition("/")
    return f"{scheme}://{host}", slash + target


class EndpointNamespace:
    """Attribute access to the registry: ``client.api.<name>(**params)``."""

    def __init__(self, client: WeChatPayClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., ApiResponse | bytes]:
        if name.startswith("_"):
            raise AttributeError(name)
        entry = endpoint(name)  # an unknown name fails here, not at call time
        binary = any(r.response == "binary" for m in entry.modes for r in entry.routes(m))
        method = self._client.call_binary if binary else self._client.call

        def call(**params: Any) -> ApiResponse | bytes:
            return method(name, **params)

        call.__name__ = name
        return call

    def __dir__(self) -> list[str]:
        return sorted(ENDPOINTS)
