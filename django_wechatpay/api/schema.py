"""The OpenAPI description of the API, without requiring drf-spectacular.

drf-spectacular reads the annotations to serve the schema; a project that does not
serve it need not install it (the ``openapi`` extra). Without it the annotations are
no-ops and the views keep DRF's default schema.

What is described here and nowhere else: each operation's id (a name a code generator
turns into a method: ``createOrder``, not ``root_create``), the errors each operation
can answer (all in the one shape of ``errors.py``), and the ``pay`` object of a new
order, whose fields depend on the trade type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework import serializers
from rest_framework.schemas import DefaultSchema

from .serializers import ErrorSerializer, OrderSerializer

__all__ = [
    "ERROR_MEANINGS",
    "AppPaySerializer",
    "H5PaySerializer",
    "JsapiPaySerializer",
    "NativePaySerializer",
    "OpenApiParameter",
    "OrderCreatedSerializer",
    "errors",
    "extend_schema",
    "schema_by_path",
]

F = TypeVar("F", bound=Callable[..., Any])

spectacular: Any
try:
    import drf_spectacular.openapi
    import drf_spectacular.utils

    spectacular = drf_spectacular
except ImportError:  # the schema is not served: nothing reads the annotations
    spectacular = None

if spectacular is not None:
    from drf_spectacular.utils import (
        OpenApiParameter,
        OpenApiResponse,
        extend_schema,
        extend_schema_field,
    )
else:

    class OpenApiParameter:  # type: ignore[no-redef]
        """Accepts what drf-spectacular's does, keeps nothing."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

    def OpenApiResponse(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return None

    def extend_schema(*args: Any, **kwargs: Any) -> Callable[[F], F]:  # type: ignore[misc]
        def keep(view: F) -> F:
            return view

        return keep

    extend_schema_field = extend_schema  # type: ignore[assignment]


#: What each error status of the API means (every body is an ``Error``: ``code`` is
#: stable, ``message`` for people). An operation lists the ones it can answer.
ERROR_MEANINGS: dict[int, str] = {
    400: (
        "`invalid`: the request is not valid (`detail`: field → messages); or WeChat Pay "
        "refused it: its own `code` (`ORDER_CLOSED`…) and `request_id`"
    ),
    401: "`not_authenticated`, with an authentication that asks for credentials",
    403: "`not_authenticated` (session authentication) or `permission_denied`",
    404: "`not_found`: no such order among those the caller may see",
    409: (
        "`ambiguous`: several merchants have an order of this number (add `?mchid=`); "
        "`conflict` or `not_allowed`: the order's state does not allow it"
    ),
    429: "`throttled`: too many requests (see `Retry-After`)",
    501: "`order_factory_missing`: the shop takes no orders through the API",
    502: "WeChat Pay failed or could not be reached (its `code` and `request_id` if any)",
    503: (
        "WeChat Pay limits the merchant's rate (`FREQUENCY_LIMITED`…), or the order "
        "factory named a merchant that is not configured (`merchant_not_found`)"
    ),
}
#: Every operation may answer these: authentication, permissions, the rate limit.
ALWAYS = (401, 403, 429)


def errors(*codes: int, content_type: str | None = None) -> dict[Any, Any]:
    """The ``responses`` entries of the errors an operation can answer, described."""
    described: dict[Any, Any] = {}
    for code in sorted({*ALWAYS, *codes}):
        key: Any = (code, content_type) if content_type else code
        described[key] = OpenApiResponse(response=ErrorSerializer, description=ERROR_MEANINGS[code])
    return described


def schema_by_path(operation_ids: dict[str, str]) -> Any:
    """A view's schema that names its operation after the path it serves: one view
    mounted on ``qrcode.svg`` and ``qrcode.png`` has one method, so ``extend_schema``
    (one id per method) would give both paths the same id. Keys are path endings."""
    if spectacular is None:
        return DefaultSchema()

    class ByPath(spectacular.openapi.AutoSchema):
        def get_operation_id(self) -> str:
            for ending, name in operation_ids.items():
                if self.path.endswith(ending):
                    return name
            return str(super().get_operation_id())

    return ByPath()


# --- what a new order's ``pay`` holds, by trade type --------------------------------------


class NativePaySerializer(serializers.Serializer):
    """Native: show ``code_url`` as a QR code (or fetch ``qrcode.svg`` / ``qrcode.png``)."""

    code_url = serializers.CharField(help_text="weixin://wxpay/bizpayurl?pr=…")


class H5PaySerializer(serializers.Serializer):
    """H5: open ``h5_url`` in the mobile browser, with ``&redirect_url=`` (URL-encoded)
    appended for the page the payer returns to."""

    h5_url = serializers.URLField()


class JsapiPaySerializer(serializers.Serializer):
    """JSAPI and mini-program: the arguments of ``WeixinJSBridge.invoke(
    'getBrandWCPayRequest', …)`` or ``wx.requestPayment(…)``, signed by the server."""

    # WeChat Pay's own names, in its own case.
    appId = serializers.CharField()
    timeStamp = serializers.CharField()
    nonceStr = serializers.CharField()
    package = serializers.CharField(help_text="prepay_id=…")
    signType = serializers.CharField(help_text="RSA")
    paySign = serializers.CharField()


class AppPaySerializer(serializers.Serializer):
    """APP: the fields of the OpenSDK's ``PayReq``, signed by the server."""

    appid = serializers.CharField()
    partnerid = serializers.CharField()
    prepayid = serializers.CharField()
    package = serializers.CharField(help_text="Sign=WXPay")
    noncestr = serializers.CharField()
    timestamp = serializers.CharField()
    sign = serializers.CharField()


PAY: Any = (
    spectacular.utils.PolymorphicProxySerializer(
        component_name="Pay",
        serializers=[
            NativePaySerializer,
            H5PaySerializer,
            JsapiPaySerializer,
            AppPaySerializer,
        ],
        resource_type_field_name=None,
    )
    if spectacular is not None
    else None
)


@extend_schema_field(PAY)
class PayField(serializers.DictField):
    """What the front end needs to pay, by the order's ``trade_type``."""


class OrderCreatedSerializer(OrderSerializer):
    """The answer to ``POST orders/``: the order, and ``pay``. For the schema: the view
    adds ``pay`` to the order's own serialisation."""

    pay = PayField(
        read_only=True,
        help_text=(
            "native: code_url; h5: h5_url; jsapi, miniprogram: the signed JSAPI "
            "parameters; app: the signed OpenSDK PayReq"
        ),
    )

    class Meta(OrderSerializer.Meta):
        fields = (*OrderSerializer.Meta.fields, "pay")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]
