"""From a registry entry and the caller's keyword arguments to the exact request to send.

Everything here runs before a byte leaves the machine, so a wrong call (unknown name,
wrong mode, missing or unknown parameter) fails with a typed error and no request.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import ParameterError, WrongModeError
from ..transport import encode_query
from .spec import Endpoint, Mode, Response, Route

__all__ = ["PreparedCall", "UploadParts", "encrypt_fields", "prepare"]


@dataclass(frozen=True)
class PreparedCall:
    """One request, ready for the client to sign and send."""

    name: str
    method: str
    #: The path (percent-encoded once), or the whole URL for ``{+url}`` routes: the
    #: route's query parameters are then already in it, and ``query`` is empty.
    path: str
    query: tuple[tuple[str, Any], ...] = ()
    #: The JSON body; ``None`` sends no body at all (signed as ``''``).
    json: Any = None
    #: Body field paths to encrypt before sending (see :func:`encrypt_fields`).
    sensitive: tuple[str, ...] = ()
    upload: UploadParts | None = None
    response: Response = "json"
    idempotent: bool = False
    #: Extra HTTP headers: ``(name, value)``.
    headers: tuple[tuple[str, str], ...] = ()
    #: See :attr:`Route.signed` and :attr:`Route.verified`.
    signed: bool = True
    verified: bool = True


@dataclass(frozen=True)
class _Shape:
    """What :func:`prepare` reads of a route, computed once: Route's properties re-parse
    the path and rebuild their sets on every access, a dozen times per call."""

    path_params: tuple[str, ...]
    url_param: str | None
    query_names: tuple[str, ...]
    body_names: tuple[str, ...]
    required: frozenset[str]
    accepted: frozenset[str]
    #: Required fields the client cannot fill in: those that tell routes apart.
    required_unfilled: frozenset[str]


#: id(route) -> (route, its shape). The route is kept so that its id cannot be reused.
_SHAPES: dict[int, tuple[Route, _Shape]] = {}
#: Routes are registry constants; the bound only keeps routes made on the fly (tests)
#: from piling up.
_MAX_SHAPES = 4096


def _shape(route: Route) -> _Shape:
    cached = _SHAPES.get(id(route))
    if cached is not None and cached[0] is route:
        return cached[1]
    required = route.required
    shape = _Shape(
        path_params=route.path_params,
        url_param=route.url_param,
        query_names=route.query_names,
        body_names=route.body_names,
        required=required,
        accepted=route.accepted,
        required_unfilled=required - set(route.fill),
    )
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[id(route)] = (route, shape)
    return shape


@dataclass(frozen=True)
class UploadParts:
    filename: str
    content: bytes
    content_type: str
    #: The signed ``meta`` part: exactly these bytes are signed and sent.
    meta: str = field(repr=False)


def prepare(
    endpoint: Endpoint,
    mode: Mode,
    params: Mapping[str, Any],
    settings: Mapping[str, str | None],
) -> PreparedCall:
    """Bind ``params`` to the endpoint's route for ``mode``.

    ``settings`` holds the client's ``appid``, ``mchid`` and ``notify_url`` for the
    fields a route fills in when the caller leaves them out.
    """
    route = _choose(endpoint, mode, params)
    shape = _shape(route)
    _check_names(endpoint.name, shape.accepted, params)
    values = dict(params)
    for name, source in route.fill.items():
        if values.get(name) is None and settings.get(source):
            values[name] = settings[source]
    missing = sorted(n for n in shape.required if values.get(n) is None)
    if missing:
        raise ParameterError(f"{endpoint.name}: missing required parameter(s) {missing}")

    body = {n: values[n] for n in shape.body_names if values.get(n) is not None}
    query = tuple((n, values[n]) for n in shape.query_names if values.get(n) is not None)
    upload = _upload(values, body, route.digest) if route.upload else None
    path = _path(route, shape, values)
    if shape.url_param is not None and query:
        # The URL keeps its own query (a download token) and the route's follows it.
        path, query = _with_query(path, query), ()
    return PreparedCall(
        name=endpoint.name,
        method=route.method,
        path=path,
        query=query,
        json=(body or None) if upload is None else None,
        sensitive=route.sensitive,
        upload=upload,
        response=route.response,
        idempotent=route.method == "GET" if route.idempotent is None else route.idempotent,
        headers=tuple((header, str(values[name])) for name, header in route.headers.items()),
        signed=route.signed,
        verified=route.verified,
    )


def _choose(endpoint: Endpoint, mode: Mode, params: Mapping[str, Any]) -> Route:
    routes = endpoint.routes(mode)
    if not routes:
        other = "partner (服务商)" if mode == "direct" else "direct (直连商户)"
        raise WrongModeError(
            f"{endpoint.name} is only available in {other} mode; this client is in {mode} mode"
        )
    reachable = [r for r in routes if all(params.get(p) is not None for p in _shape(r).path_params)]
    for route in reachable:
        # Routes told apart by a body field (elecsign by out_bill_no or transfer_bill_no).
        if all(params.get(n) is not None for n in _shape(route).required_unfilled):
            return route
    if reachable:
        return reachable[0]
    if len(routes) == 1:
        return routes[0]  # reported as a missing parameter, with the others
    ways = " or ".join("/".join(_shape(r).path_params) for r in routes)
    raise ParameterError(f"{endpoint.name}: give {ways}")


def _check_names(name: str, accepted: frozenset[str], params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ParameterError(f"{name}: unknown parameter(s) {unknown}; it takes {sorted(accepted)}")


def _path(route: Route, shape: _Shape, values: Mapping[str, Any]) -> str:
    url_param = shape.url_param
    if url_param is not None:
        url = str(values[url_param])
        if not urlsplit(url).scheme.startswith("http"):
            raise ParameterError(f"{url_param} must be the URL WeChat Pay returned: {url!r}")
        return url
    path = route.path
    for name in shape.path_params:
        text = str(values[name])
        if name in route.choices:
            options = route.choices[name]
            if text.upper() not in options:
                raise ParameterError(f"{name} must be one of {sorted(options)}, not {text!r}")
            text = options[text.upper()]
        if not text:
            raise ParameterError(f"path parameter {name} is empty")
        # Encoded once, here; the client sends the path as it is.
        path = path.replace("{" + name + "}", quote(text, safe=""))
    return path


def _with_query(url: str, query: tuple[tuple[str, Any], ...]) -> str:
    """``url`` with ``query`` appended, encoded as the client encodes any query."""
    joiner = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return url + joiner + encode_query(query)


def _upload(values: Mapping[str, Any], meta_fields: Mapping[str, Any], digest: str) -> UploadParts:
    content = values["file"]
    if not isinstance(content, bytes | bytearray):
        raise ParameterError("file must be the file's bytes")
    filename = str(values["filename"])
    if digest == "sm3":
        # The e-fapiao upload names its file by type, not by name (and misspells the key).
        meta = {
            **meta_fields,
            "digest_alogrithm": "SM3",
            "digest": hashlib.new("sm3", bytes(content)).hexdigest(),
        }
    else:
        meta = {"filename": filename, "sha256": hashlib.sha256(content).hexdigest(), **meta_fields}
    return UploadParts(
        filename=filename,
        content=bytes(content),
        content_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        meta=json.dumps(meta, ensure_ascii=False, separators=(",", ":")),
    )


def encrypt_fields(body: Any, paths: tuple[str, ...], encrypt: Callable[[str], str]) -> Any:
    """A copy of ``body`` with each field at ``paths`` encrypted; absent fields are skipped.

    The caller's objects are never changed (``wechatpayv3`` encrypts them in place, so a
    retried call would encrypt twice).
    """
    for path in paths:
        body = _encrypt_at(body, path.split("."), encrypt)
    return body


def _encrypt_at(node: Any, steps: list[str], encrypt: Callable[[str], str]) -> Any:
    if not steps or not isinstance(node, dict):
        return node
    step, rest = steps[0], steps[1:]
    key, is_list = (step[:-2], True) if step.endswith("[]") else (step, False)
    if node.get(key) is None:
        return node
    copy = dict(node)
    if is_list:
        if not isinstance(node[key], list):
            raise ParameterError(f"{key} must be a list")
        copy[key] = [
            _encrypt_at(item, rest, encrypt) if rest else _encrypt_value(item, key, encrypt)
            for item in node[key]
        ]
    elif rest:
        copy[key] = _encrypt_at(node[key], rest, encrypt)
    else:
        copy[key] = _encrypt_value(node[key], key, encrypt)
    return copy


def _encrypt_value(value: Any, key: str, encrypt: Callable[[str], str]) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"sensitive field {key} must be a string")
    return encrypt(value)
