"""E-fapiao files: the ``download_url`` a fapiao's download information hands out.

WeChat Pay serves these from a file host, not the API gateway: the request carries no
``Authorization`` (the official page: "该接口不支持签名和验签"), the URL's ``token`` and
the caller's ``mchid``, ``openid``, ``invoice_code``, ``invoice_no`` and ``fapiao_id``
say what is fetched, and the answer is the file itself with its SM3 digest in an
``SM3-Digest`` header. The simulator issues no fapiao, so it knows no token: in recording
mode any token is honoured with a stand-in PDF; otherwise every link has expired.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import quote

from .answers import Answer, Reject
from .call import Call

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["FAPIAO_FILE_PATH", "REQUIRED", "download", "stand_in_pdf"]

#: Where the simulator serves the files (the official example: pay.wechatpay.cn/...).
FAPIAO_FILE_PATH = "/invoicing/fapiao/fapiao-file"
REQUIRED = ("token", "mchid", "openid", "invoice_code", "invoice_no", "fapiao_id")


def stand_in_pdf(fapiao_id: str, invoice_code: str, invoice_no: str) -> bytes:
    text = f"sandbox e-fapiao {fapiao_id} {invoice_code} {invoice_no}".encode()
    return b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n% " + text + b"\n%%EOF\n"


def download(sb: Sandbox, call: Call) -> Answer:
    for name in REQUIRED:
        call.required_query(name)
    query = call.query
    merchant = sb.merchants_by_id().get(query["mchid"])
    if merchant is None:
        raise Reject(400, "PARAM_ERROR", "商户号不存在", {"field": "mchid", "location": "query"})
    call.merchant = merchant  # for the request log: who fetched it
    if not sb.recording:
        # UNCONFIRMED: the code for an unknown or expired token.
        raise Reject(400, "INVALID_REQUEST", "下载链接已失效，请重新获取发票下载信息")
    content = stand_in_pdf(query["fapiao_id"], query["invoice_code"], query["invoice_no"])
    return Answer(
        raw=content,
        content_type="application/octet-stream",
        headers={
            "SM3-Digest": hashlib.new("sm3", content).hexdigest().upper(),
            "Content-Disposition": f'attachment; filename="{quote(query["fapiao_id"])}.pdf"',
        },
    )
