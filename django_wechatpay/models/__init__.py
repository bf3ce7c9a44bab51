from ..verification import VerificationMode
from .certificate import PlatformCertificate
from .event import DeliveryStatus, Event, EventDelivery
from .lease import Lease
from .merchant import Merchant
from .notification import NotificationLog, NotificationStatus
from .order import Order, TradeType
from .reconciliation import DiscrepancyKind, ReconciliationItem, ReconciliationRun, RunStatus
from .refund import Refund

__all__ = [
    "DeliveryStatus",
    "DiscrepancyKind",
    "Event",
    "EventDelivery",
    "Lease",
    "Merchant",
    "NotificationLog",
    "NotificationStatus",
    "Order",
    "PlatformCertificate",
    "ReconciliationItem",
    "ReconciliationRun",
    "Refund",
    "RunStatus",
    "TradeType",
    "VerificationMode",
]
