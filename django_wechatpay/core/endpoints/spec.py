"""How one WeChat Pay v3 interface is described: as data, never as a hand-written function.

An :class:`Endpoint` has a name (the ``wechatpayv3`` function name users already know), a
place in the reference list, and one :class:`Route` per mode it serves: ``direct`` for a
merchant, ``partner`` for a service provider (服务商). The two routes of an interface often
differ in path and body (``/v3/pay/transactions/...`` with ``appid`` and ``mchid`` against
``/v3/pay/partner/transactions/...`` with ``sp_appid``, ``sp_mchid`` and ``sub_mchid``),
which is why each is written out rather than derived.

Parameters are named by short strings, so that a registry entry reads like the table in
the official documentation:

``"name"``
    optional; ``"name!"`` required.

Path parameters are the ``{name}`` placeholders of the path template and are always
required; ``{+name}`` takes a whole URL that WeChat Pay handed out (a bill's
``download_url``, a complaint image's ``media_url``) and is called as given, the route's
query parameters (if any) appended to the URL's own (an e-fapiao file's ``download_url``
keeps its ``token`` and gains ``mchid``, ``openid`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "FILL_SOURCES",
    "Endpoint",
    "Mode",
    "Response",
    "Route",
    "both",
    "delete",
    "entries",
    "get",
    "patch",
    "post",
    "put",
]

Mode = Literal["direct", "partner"]
Response = Literal["json", "binary"]

#: Client settings a body or query field can default to when the caller leaves it out.
FILL_SOURCES = frozenset({"appid", "mchid", "notify_url"})

_PLACEHOLDER = re.compile(r"\{(\+?)([a-z_][a-z0-9_]*)\}")
_SENSITIVE_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\[\])?(\.[a-z_][a-z0-9_]*(\[\])?)*$")


def _names(specs: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    names = tuple(s.rstrip("!") for s in specs)
    required = frozenset(s.rstrip("!") for s in specs if s.endswith("!"))
    return names, required


@dataclass(frozen=True)
class Route:
    """One mode's way of calling an interface."""

    method: str
    path: str
    #: Query parameters, in the order they are sent.
    query: tuple[str, ...] = ()
    #: Top-level JSON body fields. An interface with no body fields sends no body.
    body: tuple[str, ...] = ()
    #: Body (or query) field -> client setting used when the caller leaves it out.
    fill: Mapping[str, str] = field(default_factory=dict)
    #: Body fields encrypted with WeChat Pay's key, as dotted paths; ``[]`` walks a list:
    #: ``"receivers[].name"``; or a query parameter's name. The request then carries
    #: ``Wechatpay-Serial``.
    sensitive: tuple[str, ...] = ()
    #: A multipart upload: the caller gives ``file`` (bytes) and ``filename``; the meta
    #: (``filename`` and the file's ``sha256``) is signed, plus any ``body`` fields in it.
    upload: bool = False
    #: The file digest the upload's meta carries: ``sha256`` (media uploads) or ``sm3``
    #: (e-fapiao files: ``digest_alogrithm``, sic, and ``digest``).
    digest: Literal["sha256", "sm3"] = "sha256"
    response: Response = "json"
    #: Whether the request carries our ``Authorization`` signature. Only files WeChat Pay
    #: hands out by URL without asking who fetches them (the e-fapiao file download).
    signed: bool = True
    #: Whether the answer must carry WeChat Pay's signature, checked before the caller
    #: sees it. False where the caller checks integrity itself: ``/v3/certificates`` (by
    #: the certificates it delivers), bill and fapiao files (by a hash from a signed
    #: answer). Binary answers are never signed.
    verified: bool = True
    #: Parameter -> HTTP header it is sent as (``idempotency_key`` -> ``Idempotency-Key``);
    #: always required.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The official path lies outside ``/v3/``: only ``/payscore/...`` paths, and only
    #: where the official page says so (``/payscore/serviceorder/direct-complete``).
    outside_v3: bool = False
    #: Whether repeating the call unchanged cannot act twice (GET always is).
    idempotent: bool | None = None
    #: Path parameter -> {what the caller may pass: what goes in the path}, e.g. the
    #: trade type of ``pay``: ``{"trade_type": {"NATIVE": "native", ...}}``.
    choices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"{self.path}: unknown method {self.method}")
        if self.outside_v3:
            if not self.path.startswith("/payscore/"):
                raise ValueError(f"{self.path}: only /payscore/ paths may lie outside /v3/")
        elif not self.path.startswith(("/v3/", "{+")):
            raise ValueError(f"{self.path}: paths start with /v3/")
        if not self.signed and self.url_param is None:
            raise ValueError(f"{self.path}: only a URL WeChat Pay handed out is fetched unsigned")
        if self.response == "binary" and self.verified:
            object.__setattr__(self, "verified", False)  # files are never signed
        for source in self.fill.values():
            if source not in FILL_SOURCES:
                raise ValueError(f"{self.path}: cannot fill from {source!r}")
        for path in self.sensitive:
            if not _SENSITIVE_PATH.match(path):
                raise ValueError(f"{self.path}: bad sensitive field path {path!r}")
        clash = set(self.path_params) & (set(self.query_names) | set(self.body_names))
        if clash:
            raise ValueError(f"{self.path}: {sorted(clash)} both in the path and elsewhere")

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(m.group(2) for m in _PLACEHOLDER.finditer(self.path))

    @property
    def url_param(self) -> str | None:
        """The parameter that is a whole URL (``{+name}``), if the path is one."""
        m = _PLACEHOLDER.fullmatch(self.path)
        return m.group(2) if m and m.group(1) else None

    @property
    def query_names(self) -> tuple[str, ...]:
        return _names(self.query)[0]

    @property
    def body_names(self) -> tuple[str, ...]:
        return _names(self.body)[0]

    @property
    def required(self) -> frozenset[str]:
        return (
            _names(self.query)[1]
            | _names(self.body)[1]
            | frozenset(self.path_params)
            | frozenset(self.headers)
            | (frozenset({"file", "filename"}) if self.upload else frozenset())
        )

    @property
    def accepted(self) -> frozenset[str]:
        extra = {"file", "filename"} if self.upload else set()
        return (
            frozenset(self.path_params)
            | set(self.query_names)
            | set(self.body_names)
            | set(self.headers)
            | extra
        )

    def but(self, **changes: object) -> Route:
        """A copy with some fields changed: the partner route of a mostly-equal interface."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def plus(self, *body: str, **changes: object) -> Route:
        """A copy with more body fields (``sub_mchid`` for partners, typically)."""
        return replace(self, body=self.body + body, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Endpoint:
    """One interface of the reference list, under its ``wechatpayv3`` name."""

    name: str
    #: 大类 / 小类 / 接口 of the reference table.
    category: str
    group: str
    title: str
    #: The routes of each mode. Several routes mean one interface reached two ways (by
    #: ``transaction_id`` or by ``out_trade_no``): the first whose path parameters and
    #: required fields were all given is used (else the first whose path parameters were).
    direct: tuple[Route, ...] = ()
    partner: tuple[Route, ...] = ()
    #: Where ``wechatpayv3`` gets this interface wrong, for the docs' corrections list.
    correction: str = ""
    #: Other names the same interface is called by (``wechatpayv3``'s function name where
    #: it differs from its own README's).
    aliases: tuple[str, ...] = ()
    #: Where the route was checked: an official SDK file or documentation page.
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.direct and not self.partner:
            raise ValueError(f"{self.name}: serves no mode")

    @property
    def modes(self) -> tuple[Mode, ...]:
        served: list[tuple[Mode, tuple[Route, ...]]] = [
            ("direct", self.direct),
            ("partner", self.partner),
        ]
        return tuple(mode for mode, routes in served if routes)

    def routes(self, mode: Mode) -> tuple[Route, ...]:
        return self.direct if mode == "direct" else self.partner


def get(path: str, *query: str, **kw: object) -> Route:
    return Route("GET", path, query=query, **kw)  # type: ignore[arg-type]


def post(path: str, *body: str, **kw: object) -> Route:
    return Route("POST", path, body=body, **kw)  # type: ignore[arg-type]


def patch(path: str, *body: str, **kw: object) -> Route:
    return Route("PATCH", path, body=body, **kw)  # type: ignore[arg-type]


def put(path: str, *body: str, **kw: object) -> Route:
    return Route("PUT", path, body=body, **kw)  # type: ignore[arg-type]


def delete(path: str, *query: str, **kw: object) -> Route:
    return Route("DELETE", path, query=query, **kw)  # type: ignore[arg-type]


def both(*routes: Route) -> dict[str, tuple[Route, ...]]:
    """The same routes in both modes (the interface takes the same fields from either)."""
    return {"direct": routes, "partner": routes}


def entries(category: str, group: str) -> Callable[..., Endpoint]:
    """A constructor for the entries of one 大类/小类 of the reference table.

    ``direct`` and ``partner`` may be given as one route or a tuple of routes.
    """

    def make(
        name: str,
        title: str,
        *,
        direct: Route | tuple[Route, ...] = (),
        partner: Route | tuple[Route, ...] = (),
        **kw: Any,
    ) -> Endpoint:
        return Endpoint(
            name=name,
            category=category,
            group=group,
            title=title,
            direct=(direct,) if isinstance(direct, Route) else direct,
            partner=(partner,) if isinstance(partner, Route) else partner,
            **kw,
        )

    return make
