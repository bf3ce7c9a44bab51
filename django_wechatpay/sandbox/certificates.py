"""``GET /v3/certificates``: the platform certificates, each encrypted with the merchant's
APIv3 key under associated_data ``certificate`` (§3.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .answers import Answer, Reject
from .call import Call
from .crypto import HEX_LOWER, gcm_seal, random_string
from .state import rfc3339

if TYPE_CHECKING:
    from .simulator import Sandbox

__all__ = ["ASSOCIATED_DATA", "download_certificates"]

ASSOCIATED_DATA = "certificate"


def download_certificates(sb: Sandbox, call: Call) -> Answer:
    merchant = call.caller
    if merchant.verification == "public_key":
        # What the PHP SDK's README shows for a merchant that only has the public key;
        # UNCONFIRMED: the status, and NOT_FOUND as the other code seen (§3.1).
        raise Reject(
            404,
            "RESOURCE_NOT_EXISTS",
            "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。"
            "可查看指引https://pay.weixin.qq.com/docs/merchant/products/platform-certificate/wxp-pub-key-guide.html",
        )
    data = []
    for cert in sb.keys.certificates:
        nonce = random_string(12, HEX_LOWER)
        data.append(
            {
                "serial_no": cert.serial,
                "effective_time": rfc3339(cert.valid_from),
                "expire_time": rfc3339(cert.valid_until),
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": nonce,
                    "associated_data": ASSOCIATED_DATA,
                    "ciphertext": gcm_seal(
                        merchant.apiv3_key, nonce, ASSOCIATED_DATA, cert.pem.encode()
                    ),
                },
            }
        )
    return Answer(data={"data": data})
