from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import Order, Refund, TradeType
from ..orders import MAX_AMOUNT

__all__ = [
    "SERVER_DECIDED",
    "ErrorSerializer",
    "OrderCreateSerializer",
    "OrderSerializer",
    "RefundCreateSerializer",
    "RefundSerializer",
]

TRADE_TYPES = [t.lower() for t in TradeType.values]

#: What the order factory decides: a request that sends any of these is refused rather
#: than half-obeyed, so that a front end cannot believe it set a price.
SERVER_DECIDED = (
    "amount",
    "appid",
    "attach",
    "description",
    "mchid",
    "out_trade_no",
    "payer_client_ip",
    "sub_appid",
    "sub_mchid",
    "time_expire",
)


class OrderCreateSerializer(serializers.Serializer):
    """What the buyer chooses: what to buy and how to pay. The price, the description
    and the merchant come from ``WECHATPAY["API_ORDER_FACTORY"]``."""

    trade_type = serializers.ChoiceField(choices=TRADE_TYPES)
    product = serializers.CharField(
        max_length=128, help_text="what to buy, as the shop's order factory understands it"
    )
    openid = serializers.CharField(
        max_length=128, required=False, help_text="the payer (JSAPI, mini-program)"
    )
    h5_type = serializers.ChoiceField(
        choices=["Wap", "iOS", "Android"], required=False, default="Wap"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sent = sorted(set(SERVER_DECIDED) & set(getattr(self, "initial_data", None) or ()))
        if sent:
            message = _("Decided by the server; not accepted from the client.")
            raise serializers.ValidationError({name: [message] for name in sent})
        return attrs


class ErrorSerializer(serializers.Serializer):
    """Every error answer (for the OpenAPI schema; see ``errors.py``)."""

    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.DictField(required=False, help_text="validation errors by field")
    request_id = serializers.CharField(required=False, help_text="WeChat Pay's Request-ID")


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = (
            "out_refund_no",
            "refund_id",
            "amount",
            "reason",
            "status",
            "success_time",
            "created_at",
        )
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    mchid = serializers.CharField(source="merchant.mchid", read_only=True)
    trade_type = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = (
            "out_trade_no",
            "mchid",
            "trade_type",
            "description",
            "amount",
            "currency",
            "state",
            "transaction_id",
            "code_url",
            "h5_url",
            "time_expire",
            "success_time",
            "attach",
            "created_at",
        )
        read_only_fields = fields

    def get_trade_type(self, order: Order) -> str:
        return order.trade_type.lower()


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        required=False,
        help_text="fen; default: all that is left",
    )
    reason = serializers.CharField(max_length=80, required=False, default="")
    out_refund_no = serializers.CharField(max_length=64, required=False)
