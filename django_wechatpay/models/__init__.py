from ..verification import VerificationMode
from .certificate import PlatformCertificate
from .combine import CombineOrder
from .event import DeliveryStatus, Event, EventDelivery
from .lease import Lease
from .merchant import Merchant
from .notification import NotificationLog, NotificationStatus
from .order import Order, TradeType
from .overview import Overview
from .profit_sharing import (
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReceiver,
    ProfitSharingReturn,
    ReceiverType,
)
from .reconciliation import DiscrepancyKind, ReconciliationItem, ReconciliationRun, RunStatus
from .refund import Refund
from .transfer import Transfer

__all__ = [
    "CombineOrder",
    "DeliveryStatus",
    "DiscrepancyKind",
    "Event",
    "EventDelivery",
    "Lease",
    "Merchant",
    "NotificationLog",
    "NotificationStatus",
    "Order",
    "Overview",
    "PlatformCertificate",
    "ProfitSharing",
    "ProfitSharingItem",
    "ProfitSharingReceiver",
    "ProfitSharingReturn",
    "ReceiverType",
    "ReconciliationItem",
    "ReconciliationRun",
    "Refund",
    "RunStatus",
    "TradeType",
    "Transfer",
    "VerificationMode",
]
