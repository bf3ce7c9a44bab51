"""Media uploads: ``multipart/form-data`` with a ``meta`` JSON part and a ``file`` part (§1.5).

The signature covers the exact bytes of ``meta``, so the parts are cut out of the body by
their boundary rather than re-read through a parser that could normalise them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from email.message import Message
from typing import TYPE_CHECKING

from .answers import Answer, Reject, param_error
from .call import Call, Part, Upload
from .crypto import oaep_open
from .state import next_number, now_beijing, rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = [
    "MEDIA_ENDPOINTS",
    "bank_package_task",
    "check_upload",
    "media_upload",
    "parse_multipart",
    "split_upload",
]

#: Paths that take an upload, and the field their answer names it by.
MEDIA_ENDPOINTS = {
    "/v3/merchant/media/upload": "media_id",
    "/v3/merchant/media/video_upload": "media_id",
    # The marketing image upload answers a URL, not an id.
    "/v3/marketing/favor/media/image-upload": "media_url",
}


def _header_params(value: str) -> Message:
    message = Message()
    message["content-type"] = value
    return message


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    boundary = _header_params(content_type).get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        # wechatpayv3 sends a bare "multipart/form-data", and WeChat Pay accepts its
        # uploads: the boundary is also the body's first line.
        first_line = body.partition(b"\r\n")[0]
        if not first_line.startswith(b"--") or len(first_line) < 3:
            raise param_error("Content-Type", "multipart boundary is missing", location="header")
        boundary = first_line[2:].decode("latin-1")
    parts: dict[str, Part] = {}
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = _headers(head.decode("utf-8", errors="replace"))
        disposition = _header_params(
            "form-data" + headers.get("content-disposition", "").partition("form-data")[2]
        )
        name = disposition.get_param("name")
        if isinstance(name, str):
            filename = disposition.get_param("filename")
            parts[name] = Part(
                content.removesuffix(b"\r\n"),
                filename if isinstance(filename, str) else None,
                headers.get("content-type", ""),
            )
    return parts


def _headers(head: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in head.split("\r\n") if ":" in line)
    return {name.strip().lower(): value.strip() for name, _, value in pairs}


def split_upload(call: Call) -> None:
    """Cut the parts out and make ``meta`` the signed body (before the signature check)."""
    call.parts = parse_multipart(call.header("content-type"), call.body)
    if "meta" not in call.parts:
        raise param_error("meta", "the meta part is missing")
    call.signed_body = call.parts["meta"].content


def check_upload(call: Call) -> None:
    """The file must be the one ``meta`` describes (after the signature check)."""
    meta, file = call.parts["meta"], call.parts.get("file")
    if file is None:
        raise param_error("file", "the file part is missing")
    try:
        declared = json.loads(meta.content)
    except ValueError:
        raise param_error("meta", "meta is not JSON") from None
    if not isinstance(declared, dict):
        raise param_error("meta", "meta is not a JSON object")
    if declared.get("digest_alogrithm") == "SM3":  # e-fapiao files (sic)
        key, actual = "digest", hashlib.new("sm3", file.content).hexdigest()
        filename = file.filename or ""
    else:
        if not declared.get("filename"):
            raise param_error("/meta/filename", "filename is required")
        key, actual = "sha256", hashlib.sha256(file.content).hexdigest()
        filename = declared["filename"]
    if str(declared.get(key, "")).lower() != actual:
        raise param_error(
            f"/meta/{key}", f"the file's {key} is not the one in meta", declared.get(key)
        )
    call.upload = Upload(filename, actual, len(file.content), file.content_type)


def media_upload(call: Call, base_url: str) -> Answer:
    if call.upload is None:
        raise Reject(400, "PARAM_ERROR", "上传接口需使用multipart/form-data")
    media_id = secrets.token_urlsafe(48)
    if MEDIA_ENDPOINTS[call.path] == "media_url":
        return Answer(data={"media_url": f"{base_url}/sandbox/media/{media_id}"})
    return Answer(data={"media_id": media_id})


def bank_package_task(sb: Sandbox, call: Call) -> Answer:
    """导入定向用户协议号: a TXT/CSV file of protocol numbers, one a line, each line an
    OAEP ciphertext under the key ``Wechatpay-Serial`` names; ``bank_type`` in the meta."""
    if call.upload is None:
        raise Reject(400, "PARAM_ERROR", "上传接口需使用multipart/form-data")
    meta = json.loads(call.parts["meta"].content)
    if not meta.get("bank_type"):
        raise param_error("/meta/bank_type", "bank_type is required")
    serial = call.header("wechatpay-serial")
    key = sb.keys.decryption_key(call.caller, serial) if serial else None
    if key is None:
        raise Reject(
            400,
            "PARAM_ERROR",
            "协议号需用平台证书或微信支付公钥加密，并在请求头Wechatpay-Serial指明",
            {"field": "Wechatpay-Serial", "location": "header", "value": serial},
        )
    lines = [line for line in call.parts["file"].content.split(b"\n") if line.strip()]
    if not lines:
        raise param_error("file", "the file has no protocol numbers")
    for number, line in enumerate(lines, 1):
        try:
            call.decrypted[f"/file/{number}"] = oaep_open(key, line.strip().decode())
        except ValueError:
            raise Reject(
                400, "PARAM_ERROR", "平台私钥解密失败", {"field": f"file line {number}"}
            ) from None
    now = rfc3339(now_beijing())
    return Answer(
        data={
            "task_id": str(next_number()),
            "package_id": call.params["package_id"],
            "filename": call.upload.filename,
            "bank_type": meta["bank_type"],
            "create_time": now,
            "update_time": now,
            "status": "PROCESSING",
        }
    )
