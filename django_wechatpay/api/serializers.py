from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..core.trade_types import trade_type
from ..models import Order, Refund, TradeType

__all__ = [
    "OrderCreateSerializer",
    "OrderSerializer",
    "RefundCreateSerializer",
    "RefundSerializer",
]

TRADE_TYPES = [t.lower() for t in TradeType.values]


class OrderCreateSerializer(serializers.Serializer):
    trade_type = serializers.ChoiceField(choices=TRADE_TYPES)
    amount = serializers.IntegerField(min_value=1, help_text="fen")
    description = serializers.CharField(max_length=127)
    out_trade_no = serializers.RegexField(r"^[0-9A-Za-z_\-|*]{6,32}$", required=False)
    openid = serializers.CharField(max_length=128, required=False)
    payer_client_ip = serializers.IPAddressField(required=False)
    h5_type = serializers.ChoiceField(
        choices=["Wap", "iOS", "Android"], required=False, default="Wap"
    )
    time_expire = serializers.DateTimeField(required=False)
    attach = serializers.CharField(max_length=128, required=False, default="")
    mchid = serializers.CharField(max_length=32, required=False)
    appid = serializers.CharField(max_length=32, required=False)
    sub_mchid = serializers.CharField(max_length=32, required=False, default="")
    sub_appid = serializers.CharField(max_length=32, required=False, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if trade_type(attrs["trade_type"]).needs_openid and not attrs.get("openid"):
            raise serializers.ValidationError(
                {"openid": ["required for JSAPI and mini-program payments"]}
            )
        return attrs


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
        min_value=1, required=False, help_text="fen; default: all that is left"
    )
    reason = serializers.CharField(max_length=80, required=False, default="")
    out_refund_no = serializers.CharField(max_length=64, required=False)
