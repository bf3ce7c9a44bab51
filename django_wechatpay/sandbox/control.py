"""The control API (JSON, unsigned, under ``/sandbox/``) and the payer's pages.

Every endpoint calls the :class:`~.simulator.Sandbox` method of the same purpose, so
tests in another process (or language) can script the simulator as Python tests do.
It has no authentication: never expose the simulator beyond your machine or CI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from . import payer_page
from . import transfers as mch_transfers
from .answers import JSON_TYPE, dumps
from .combine import payable_view
from .state import LOOKUPS

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["ACTIONS", "HTML_TYPE", "Action", "Reply", "handle"]

HTML_TYPE = "text/html; charset=utf-8"
Action = Callable[["Sandbox", dict[str, Any]], Any]


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON_TYPE})


def _json(status: int, data: Any) -> Reply:
    return Reply(status, dumps(data))


def _html(status: int, page: str) -> Reply:
    return Reply(status, page.encode(), {"Content-Type": HTML_TYPE})


def _lookup(data: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(data[k]) for k in LOOKUPS if data.get(k)}


def _pay(sb: Sandbox, data: dict[str, Any]) -> Any:
    outcome = data.get("outcome", "success")
    if outcome not in ("success", "fail"):
        raise ValueError("outcome is success or fail")
    return payable_view(sb.pay(success=outcome == "success", **_lookup(data)))


def _merchant(sb: Sandbox, data: dict[str, Any]) -> Any:
    if data.get("certificate_pem") or data.get("public_key_pem"):
        merchant = sb.register_merchant(str(data.pop("mchid")), **data)
        return {"mchid": merchant.mchid, "serial_no": merchant.serial_no}
    return sb.create_merchant(data.pop("mchid", None), **data).as_dict()


def _fault(sb: Sandbox, data: dict[str, Any]) -> Any:
    if data.pop("target", "api") == "notification":
        return sb.add_notification_fault(**data).as_dict()
    return sb.add_fault(**data).as_dict()


def _certificate(sb: Sandbox, data: dict[str, Any]) -> Any:
    action = data.get("action")
    if action == "add":
        sb.add_platform_certificate()
    elif action == "switch":
        sb.switch_platform_certificate(data.get("serial"))
    elif action == "retire":
        sb.retire_platform_certificate(data["serial"])
    else:
        raise ValueError("action is add, switch or retire")
    return _certificates(sb, data)


def _certificates(sb: Sandbox, data: dict[str, Any]) -> Any:
    return {
        "certificates": [{"serial_no": s, "pem": p} for s, p in sb.platform_certificates()],
        "signing": sb.keys.signing_serial,
        "public_key_id": sb.public_key_id,
        "public_key_pem": sb.keys.public_key_pem,
    }


def _finish_refund(sb: Sandbox, data: dict[str, Any]) -> Any:
    refund = sb.finish_refund(
        data["out_refund_no"], outcome=data.get("outcome"), mchid=data.get("mchid")
    )
    return {"out_refund_no": refund.out_refund_no, "status": refund.status}


def _transfer_lookup(data: Mapping[str, Any]) -> dict[str, str]:
    names = ("package", "out_bill_no", "transfer_bill_no", "mchid")
    return {k: str(data[k]) for k in names if data.get(k)}


def _confirm_transfer(sb: Sandbox, data: dict[str, Any]) -> Any:
    openid = str(data.get("openid") or "")
    return sb.confirm_transfer(openid=openid, **_transfer_lookup(data)).as_dict()


def _finish_transfer(sb: Sandbox, data: dict[str, Any]) -> Any:
    bill = sb.find_transfer(**_transfer_lookup(data))
    return sb.finish_transfer(bill, outcome=data.get("outcome")).as_dict()


def _finish_sharing(sb: Sandbox, data: dict[str, Any]) -> Any:
    outcomes = data.get("outcomes") or {}
    if not isinstance(outcomes, dict):
        raise ValueError("outcomes maps a receiver's account to SUCCESS or CLOSED")
    sharing = sb.finish_sharing(
        str(data["out_order_no"]), outcomes=outcomes, mchid=data.get("mchid")
    )
    return sharing.as_dict()


def _finish_sharing_return(sb: Sandbox, data: dict[str, Any]) -> Any:
    record = sb.finish_sharing_return(
        str(data["out_return_no"]), outcome=data.get("outcome"), mchid=data.get("mchid")
    )
    return record.as_dict()


def _console_refund(sb: Sandbox, data: dict[str, Any]) -> Any:
    refund = sb.console_refund(
        int(data["amount"]),
        out_refund_no=data.get("out_refund_no"),
        reason=str(data.get("reason") or ""),
        **_lookup(data),
    )
    return {"out_refund_no": refund.out_refund_no, "refund_id": refund.refund_id}


ACTIONS: dict[tuple[str, str], Action] = {
    ("GET", "/sandbox/state"): lambda sb, data: sb.snapshot(),
    ("GET", "/sandbox/orders"): lambda sb, data: sb.orders(),
    ("GET", "/sandbox/refunds"): lambda sb, data: sb.refunds(),
    ("GET", "/sandbox/deliveries"): lambda sb, data: [d.as_dict() for d in sb.deliveries()],
    ("GET", "/sandbox/requests"): lambda sb, data: sb.requests(int(data.get("limit") or 0)),
    ("GET", "/sandbox/merchants"): lambda sb, data: sorted(sb.merchants_by_id()),
    ("GET", "/sandbox/faults"): lambda sb, data: [f.as_dict() for f in sb.faults.rules()],
    ("GET", "/sandbox/certificates"): _certificates,
    ("GET", "/sandbox/settings"): lambda sb, data: sb.settings(),
    ("POST", "/sandbox/settings"): lambda sb, data: sb.configure(**data),
    ("POST", "/sandbox/reset"): lambda sb, data: sb.reset(),
    ("POST", "/sandbox/merchants"): _merchant,
    ("POST", "/sandbox/pay"): _pay,
    ("POST", "/sandbox/refunds/finish"): _finish_refund,
    ("POST", "/sandbox/refunds/console"): _console_refund,
    ("GET", "/sandbox/sharings"): lambda sb, data: sb.sharings(),
    ("POST", "/sandbox/sharings/finish"): _finish_sharing,
    ("GET", "/sandbox/sharing-returns"): lambda sb, data: sb.sharing_returns(),
    ("POST", "/sandbox/sharing-returns/finish"): _finish_sharing_return,
    ("GET", "/sandbox/transfers"): lambda sb, data: sb.transfers(),
    ("POST", "/sandbox/transfers/confirm"): _confirm_transfer,
    ("POST", "/sandbox/transfers/finish"): _finish_transfer,
    ("POST", "/sandbox/transfers/expire"): lambda sb, data: sb.expire_transfer(
        **_transfer_lookup(data)
    ).as_dict(),
    ("POST", "/sandbox/deliveries/deliver-now"): lambda sb, data: sb.deliver_due_now(),
    ("POST", "/sandbox/deliveries/hold"): lambda sb, data: sb.hold_notifications(),
    ("POST", "/sandbox/deliveries/release"): lambda sb, data: sb.release_notifications(
        reverse=bool(data.get("reverse"))
    ),
    ("POST", "/sandbox/faults"): _fault,
    ("DELETE", "/sandbox/faults"): lambda sb, data: sb.clear_faults(data.get("seed")),
    ("POST", "/sandbox/certificates"): _certificate,
    ("POST", "/sandbox/bill-rows"): lambda sb, data: sb.add_bill_row(data["row"]),
    ("POST", "/sandbox/bill-changes"): lambda sb, data: sb.change_in_bill(**data),
}
ACTIONS[("PATCH", "/sandbox/settings")] = ACTIONS[("POST", "/sandbox/settings")]
# The name the first version of the simulator used.
ACTIONS[("POST", "/sandbox/deliver-now")] = ACTIONS[("POST", "/sandbox/deliveries/deliver-now")]


def _data(query: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
    if not body:
        return data
    if headers.get("content-type", "").startswith("application/json"):
        loaded = json.loads(body)
        if not isinstance(loaded, dict):
            raise ValueError("send a JSON object")
        data.update(loaded)
    else:  # the payer page's form
        data.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
    return data


def handle(sb: Sandbox, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
    split = urlsplit(target)
    path = split.path.rstrip("/") or "/sandbox"
    try:
        data = _data(split.query, headers, body)
        if method == "GET":
            page = _page(sb, path, data)
            if page is not None:
                return page
        if (
            method == "POST"
            and path == "/sandbox/pay"
            and "json" not in headers.get("content-type", "")
        ):
            return _pay_from_page(sb, data)
        if (
            method == "POST"
            and path == "/sandbox/transfer"
            and "json" not in headers.get("content-type", "")
        ):
            return _confirm_from_page(sb, data)
        action = ACTIONS.get((method, path))
        if action is None:
            return _json(404, {"code": "NOT_FOUND", "message": f"no control {method} {path}"})
        result = action(sb, data)
        return _json(200, {"ok": True} if result is None else result)
    except (LookupError, ValueError, TypeError) as exc:
        return _json(400, {"code": "SANDBOX_ERROR", "message": str(exc)})


# --- the payer's phone -------------------------------------------------------------------------


def _page(sb: Sandbox, path: str, data: dict[str, Any]) -> Reply | None:
    if path == "/sandbox":
        return _html(200, payer_page.render_index(sb.store.payables()))
    if path == "/sandbox/transfer":
        return _transfer_page(sb, data)
    if path.startswith("/sandbox/h5/"):
        data = {"token": path.rsplit("/", 1)[-1]}
    elif path != "/sandbox/pay":
        return None
    lookup = _lookup(data)
    try:
        payable = sb.find_order(**lookup)
    except LookupError as exc:
        return _html(404, payer_page.render_missing(str(exc)))
    with sb.store.lock:
        return _html(200, payer_page.render(payable, lookup))


def _transfer_page(sb: Sandbox, data: dict[str, Any]) -> Reply:
    """What the payee's WeChat shows for a transfer's package (requestMerchantTransfer)."""
    try:
        with sb.store.lock:
            return _html(
                200, mch_transfers.render(sb.transfer_bills.find(**_transfer_lookup(data)))
            )
    except LookupError as exc:
        return _html(404, payer_page.render_missing(str(exc)))


def _confirm_from_page(sb: Sandbox, data: dict[str, Any]) -> Reply:
    """The page's button: the payee confirms, then sees the transfer again."""
    bill = sb.confirm_transfer(**_transfer_lookup(data))
    return Reply(303, b"", {"Location": mch_transfers.page_link(bill)})


def _pay_from_page(sb: Sandbox, data: dict[str, Any]) -> Reply:
    """The page's buttons: pay or fail, then show the order again (POST-redirect-GET)."""
    lookup = _lookup(data)
    _pay(sb, data)
    return Reply(303, b"", {"Location": f"/sandbox/pay?{urlencode(lookup)}"})
