"""The registry against an implementation that is not ours: for every entry and mode,
``wechatpayv3`` 2.0.4 and our client make the same call to the simulator, and the
simulator's request log shows what each sent.

Where the two differ in method or path, the entry must say why in ``correction`` (the
reference SDK is wrong in about a dozen places; the official SDKs and docs decide). Where
``wechatpayv3`` cannot make the call at all with these arguments, the case is skipped
with its error, so the gap shows in the report instead of passing silently.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import pytest
from wechatpayv3 import WeChatPayType

from django_wechatpay.core import errors
from django_wechatpay.core.endpoints import ENDPOINTS, Endpoint, Route
from tests.sandbox.test_endpoint_registry import (
    NOTIFY_URL,
    PNG,
    call,
    client_for,
    file_url,
    merged,
)
from tests.sandbox.test_with_wechatpayv3 import their_client

CASES = [
    pytest.param(e, mode, id=f"{e.name}-{mode}") for e in ENDPOINTS.values() for mode in e.modes
]


def plain_sample(route: Route, base_url: str) -> dict[str, Any]:
    """Values that need no encoding, so both paths can be compared byte for byte."""
    params: dict[str, Any] = {}
    for name in route.path_params:
        if name == route.url_param:
            params[name] = file_url(route, base_url, "T1")
        elif name in route.choices:
            params[name] = (
                "NATIVE" if "NATIVE" in route.choices[name] else next(iter(route.choices[name]))
            )
        else:
            params[name] = f"P{name.upper()}1"
    for name in (*route.query_names, *route.body_names):
        params[name] = f"V{name.upper()}1"
    for path in route.sensitive:
        top = path.split(".")[0].removesuffix("[]")
        value = _nested(path)
        params[top] = (
            merged(params[top], value) if isinstance(params.get(top), dict | list) else value
        )
    for name in route.headers:
        params[name] = f"V{name.upper()}1"
    if route.upload:
        params.update(file=PNG, filename="a.png")
    return params


def _nested(path: str) -> Any:
    value: Any = "secret"
    for step in reversed(path.split(".")[1:]):
        value = {step[:-2]: [value]} if step.endswith("[]") else {step: value}
    return [value] if path.split(".")[0].endswith("[]") else value


def their_function(wxpay, entry: Endpoint):
    for name in (entry.name, *entry.aliases):
        if hasattr(wxpay, name):
            return getattr(wxpay, name)
    return None


def their_kwargs(function, route: Route, params: dict[str, Any], tmp_path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "pay_type":
            kwargs[name] = WeChatPayType.NATIVE
        elif name in params:
            kwargs[name] = params[name]
        elif name == "filepath":
            (tmp_path / "a.png").write_bytes(PNG)
            kwargs[name] = str(tmp_path / "a.png")
        elif route.url_param and name in ("url", "media_url"):
            kwargs[name] = params[route.url_param]
        elif parameter.default is inspect.Parameter.empty:
            kwargs[name] = f"V{name.upper()}1"
    return kwargs


def sent(sandbox, before: int, route: Route) -> tuple[str, str] | None:
    """The last call since ``before``, not counting the certificate downloads a client
    makes on its own (unless the call under test is one)."""
    calls = [
        r
        for r in sandbox.requests()[before:]
        if route.path == "/v3/certificates" or not r["path"].startswith("/v3/certificates")
    ]
    return (calls[-1]["method"], calls[-1]["path"]) if calls else None


@pytest.mark.parametrize(("entry", "mode"), CASES)
def test_same_method_and_path_as_wechatpayv3_or_a_stated_correction(
    wechatpay_sandbox, entry: Endpoint, mode, tmp_path
):
    partner = mode == "partner"
    m = wechatpay_sandbox.create_merchant(partner=partner)
    route = entry.routes(mode)[0]
    params = plain_sample(route, wechatpay_sandbox.base_url)

    ours_client = client_for(wechatpay_sandbox, m, partner)
    before = len(wechatpay_sandbox.requests())
    with contextlib.suppress(errors.APIError):
        call(ours_client, entry, route, params)
    ours = sent(wechatpay_sandbox, before, route)
    assert ours is not None

    wxpay = their_client(wechatpay_sandbox, m, tmp_path, NOTIFY_URL, partner_mode=partner)
    function = their_function(wxpay, entry)
    if function is None:
        assert entry.correction, f"wechatpayv3 has no {entry.name}: say so in correction"
        return
    before = len(wechatpay_sandbox.requests())
    try:
        function(**their_kwargs(function, route, params, tmp_path))
    except Exception as exc:  # their pre-checks raise bare Exception
        if sent(wechatpay_sandbox, before, route) is None:
            pytest.skip(f"wechatpayv3.{function.__name__} sent nothing: {exc!r}")
    theirs = sent(wechatpay_sandbox, before, route)
    if theirs is None:
        pytest.skip(f"wechatpayv3.{function.__name__} sent nothing")
    if theirs != ours:
        assert entry.correction, f"ours {ours} vs wechatpayv3 {theirs}: needs a correction"
