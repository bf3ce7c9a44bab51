"""The trade types (支付方式): the one table everything else about them is derived from.

The registry's ``pay`` / ``combine_pay`` path segments, the names WeChat Pay reports in
``trade_type``, what an order of each type needs from the payer, and what the front end
gets back all come from :data:`TRADE_TYPES`. The Django layer builds its model choices
from it too (with a translated label it keeps); adding a trade type is adding a row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "TRADE_TYPES",
    "Invoke",
    "TradeTypeSpec",
    "pay_type_choices",
    "trade_type",
]

#: What the front end receives to start paying.
Invoke = Literal["jsapi", "app", "h5", "native", "none"]


@dataclass(frozen=True)
class TradeTypeSpec:
    """One way of paying."""

    #: Our name, stored on orders.
    name: str
    #: The ``pay_type`` path segment of the registry's ``pay`` and ``combine_pay``.
    path: str
    #: How WeChat Pay reports it in a transaction's ``trade_type`` (protocol §4.4).
    reported_as: str
    invoke: Invoke
    #: The payer's openid is required (JSAPI and mini-programs).
    needs_openid: bool = False
    #: ``scene_info.payer_client_ip`` is required (H5), with ``h5_info``.
    needs_client_ip: bool = False
    #: Offered by combine payments (合单).
    combinable: bool = True
    #: Other names callers use for it (``wechatpayv3``'s ``MINIPROG``).
    aliases: tuple[str, ...] = ()

    @property
    def orderable(self) -> bool:
        """Whether the Django layer can place it (a payment code needs a scanner)."""
        return self.invoke != "none"


_SPECS = (
    TradeTypeSpec("JSAPI", path="jsapi", reported_as="JSAPI", invoke="jsapi", needs_openid=True),
    # Mini-programs pay through the JSAPI interface and are reported as JSAPI.
    TradeTypeSpec(
        "MINIPROGRAM",
        path="jsapi",
        reported_as="JSAPI",
        invoke="jsapi",
        needs_openid=True,
        aliases=("MINIPROG",),
    ),
    TradeTypeSpec("APP", path="app", reported_as="APP", invoke="app"),
    TradeTypeSpec("H5", path="h5", reported_as="MWEB", invoke="h5", needs_client_ip=True),
    TradeTypeSpec("NATIVE", path="native", reported_as="NATIVE", invoke="native"),
    # 付款码: the merchant scans the payer's code; nothing for a front end to invoke.
    TradeTypeSpec(
        "CODEPAY", path="codepay", reported_as="MICROPAY", invoke="none", combinable=False
    ),
)
TRADE_TYPES: Mapping[str, TradeTypeSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})

_BY_NAME = {alias: spec for spec in TRADE_TYPES.values() for alias in (spec.name, *spec.aliases)}


def trade_type(name: str) -> TradeTypeSpec:
    """The trade type called ``name`` (any case, aliases included); KeyError if none."""
    return _BY_NAME[name.upper()]


def pay_type_choices(*, combine: bool = False) -> dict[str, str]:
    """``{name or alias: path segment}`` for the registry's ``pay_type`` parameter."""
    return {name: spec.path for name, spec in _BY_NAME.items() if spec.combinable or not combine}
