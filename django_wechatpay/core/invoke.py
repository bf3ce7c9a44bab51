"""What the front end needs to open WeChat Pay's cashier (protocol §7).

Both are signed with the merchant API private key, like requests; the messages differ:
JSAPI / mini-program sign ``package=prepay_id=…``, APP signs the bare prepay id.
"""

from __future__ import annotations

from .crypto import new_nonce
from .signing import Signer, app_message, jsapi_message

__all__ = ["app_invoke_params", "jsapi_invoke_params"]


def jsapi_invoke_params(
    signer: Signer,
    appid: str,
    prepay_id: str,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Parameters for ``WeixinJSBridge.invoke('getBrandWCPayRequest')`` and
    ``wx.requestPayment`` (which ignores ``appId`` but it is still signed).

    In partner mode ``appid`` is the one that invokes payment: ``sub_appid`` when the
    order was placed with one, else ``sp_appid``.
    """
    timestamp = timestamp or signer.timestamp()
    nonce = nonce or new_nonce()
    package = f"prepay_id={prepay_id}"
    return {
        "appId": appid,
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": signer.sign(jsapi_message(appid, timestamp, nonce, package)),
    }


def app_invoke_params(
    signer: Signer,
    appid: str,
    prepay_id: str,
    *,
    partnerid: str | None = None,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Parameters for the OpenSDK ``PayReq`` (names as in WeChat Pay's server-side docs).

    ``partnerid`` is the merchant id that placed the order: the direct mchid, or the
    service provider's ``sp_mchid`` in partner mode; it defaults to the signer's mchid.
    """
    timestamp = timestamp or signer.timestamp()
    nonce = nonce or new_nonce()
    return {
        "appid": appid,
        "partnerid": partnerid or signer.mchid,
        "prepayid": prepay_id,
        "package": "Sign=WXPay",
        "noncestr": nonce,
        "timestamp": timestamp,
        "sign": signer.sign(app_message(appid, timestamp, nonce, prepay_id)),
    }
