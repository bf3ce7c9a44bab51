"""The WeChat Pay API v3 protocol, framework-free.

Nothing under ``django_wechatpay.core`` imports Django (a test enforces it), so the
client, the notification parser and the bill parser can be used from any Python code.
"""

from .bills import (
    FundFlowBillReader,
    TradeBillReader,
    parse_fundflow_bill,
    parse_trade_bill,
)
from .certificates import CertificateStore, InMemoryCertificateStore, PlatformCertificate
from .client import DEFAULT_API_BASE, ApiResponse, Upload, WeChatPayClient, encode_query
from .errors import *  # noqa: F403 -- the error hierarchy is part of the public surface
from .errors import WeChatPayError
from .headers import canonical_headers
from .invoke import app_invoke_params, jsapi_invoke_params
from .keys import certificate_serial, load_certificate, load_private_key, load_public_key
from .notifications import Notification, parse_notification
from .signing import Signer
from .transport import Transport
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
    "CertificateDownloader",
    "CertificateStore",
    "CertificateVerifier",
    "CombinedVerifier",
    "FundFlowBillReader",
    "InMemoryCertificateStore",
    "Notification",
    "PlatformCertificate",
    "PublicKeyVerifier",
    "Signer",
    "TradeBillReader",
    "Transport",
    "Upload",
    "Verifier",
    "WeChatPayClient",
    "WeChatPayError",
    "WeChatPayPublicKey",
    "app_invoke_params",
    "canonical_headers",
    "certificate_serial",
    "encode_query",
    "jsapi_invoke_params",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "parse_fundflow_bill",
    "parse_notification",
    "parse_trade_bill",
]
