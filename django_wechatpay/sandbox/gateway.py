"""One API request from arrival to answer, as WeChat Pay's gateway handles it.

Faults first (an outage comes before any check), then the client headers, the
signature, the body, sensitive fields, the interface; the answer is signed (2xx) or an
error body; every call lands in the request log. What to do with the connection is
returned as an :class:`Outcome` for the HTTP server to carry out.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .answers import JSON_TYPE, Answer, Reject, dumps, frequency_limited, request_id, system_error
from .auth import authenticate, require_client_headers
from .call import Call
from .faults import Fault
from .platform_keys import TAMPERINGS
from .recording import log_entry
from .routes import is_unsigned, route
from .sensitive import decrypt_sensitive_fields
from .uploads import check_upload, split_upload

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["Outcome", "error_outcome", "handle"]


@dataclass
class Outcome:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds to wait before answering (latency) or before dropping the connection.
    hold: float = 0.0
    #: ``"reset"`` or ``"timeout"``: no answer at all.
    drop: str = ""


def error_outcome(rejection: Reject, rid: str) -> Outcome:
    """Error answers carry a Request-ID but no signature (§2.2: non-2xx are not verified)."""
    return Outcome(
        rejection.status,
        {"Content-Type": JSON_TYPE, "Request-ID": rid},
        dumps(rejection.body()),
    )


def _replacement(fault: Fault, rid: str) -> Outcome | None:
    """The outcome a fault puts in place of the answer, if it is that kind of fault."""
    if fault.kind == "server_error":
        return error_outcome(system_error(), rid)
    if fault.kind == "rate_limited":
        return error_outcome(frequency_limited(), rid)
    if fault.kind == "frequency_limited_403":
        return error_outcome(frequency_limited(status=403), rid)
    if fault.kind in ("timeout", "reset"):
        return Outcome(0, hold=fault.seconds if fault.kind == "timeout" else 0.0, drop=fault.kind)
    return None


def _read_body(call: Call) -> None:
    if call.parts:
        check_upload(call)
    elif call.body:
        try:
            call.json = json.loads(call.body)
        except ValueError:
            raise Reject(400, "PARAM_ERROR", "请求体不是合法的JSON") from None


def _process(sb: Sandbox, call: Call) -> Answer:
    if is_unsigned(call):
        # A file WeChat Pay hands out by URL (an e-fapiao file): it asks for no
        # Authorization and checks none; the handler checks what the URL carries.
        return route(sb, call)
    require_client_headers(call)
    if call.header("content-type").startswith("multipart/form-data"):
        split_upload(call)  # the signature covers the meta part only (§1.5)
    call.merchant = authenticate(call, sb.merchants_by_id())
    _read_body(call)
    decrypt_sensitive_fields(call, sb.keys)
    return route(sb, call)


def _signed(sb: Sandbox, call: Call, answer: Answer, rid: str, tampering: str) -> Outcome:
    headers = {"Request-ID": rid, "Content-Type": answer.content_type, **answer.headers}
    if answer.signed:
        signer = sb.keys.answer_signer(call.caller, call.header("wechatpay-serial"))
        headers.update(signer.headers(answer.payload, tampering))
    return Outcome(answer.status, headers, answer.payload)


def _logged(sb: Sandbox, call: Call, outcome: Outcome, rid: str, code: str = "") -> Outcome:
    sb.store.log_request(log_entry(call, outcome.status, rid, code))
    return outcome


def handle(sb: Sandbox, call: Call) -> Outcome:
    rid = request_id()
    fault = sb.faults.draw(call.method, call.path)
    replacement = _replacement(fault, rid) if fault else None
    if fault and replacement and not fault.after:
        return _logged(sb, call, replacement, rid, f"fault:{fault.kind}")
    try:
        answer = _process(sb, call)
    except Reject as rejection:
        outcome = _logged(sb, call, error_outcome(rejection, rid), rid, rejection.code)
    except Exception:  # a bug of the simulator's: say so, and answer as WeChat Pay would
        traceback.print_exc()
        outcome = _logged(sb, call, error_outcome(system_error(), rid), rid, "SANDBOX_BUG")
    else:
        if fault and replacement:  # processed, and then the answer is lost
            return _logged(sb, call, replacement, rid, f"fault:{fault.kind}")
        tampering = fault.kind if fault and fault.kind in TAMPERINGS else ""
        outcome = _logged(sb, call, _signed(sb, call, answer, rid, tampering), rid)
    if fault and fault.kind == "latency":
        outcome.hold = fault.seconds
    return outcome
