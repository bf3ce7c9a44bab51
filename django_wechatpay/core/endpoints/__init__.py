"""The WeChat Pay v3 interfaces as data: see :mod:`.spec` for the format, :mod:`.groups`
for the entries, and :meth:`WeChatPayClient.call` for how they are called."""

from .prepare import PreparedCall, UploadParts, encrypt_fields, prepare
from .registry import ENDPOINTS, endpoint, endpoints
from .spec import Endpoint, Route

__all__ = [
    "ENDPOINTS",
    "Endpoint",
    "PreparedCall",
    "Route",
    "UploadParts",
    "encrypt_fields",
    "endpoint",
    "endpoints",
    "prepare",
]
