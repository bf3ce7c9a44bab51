from .certificate import PlatformCertificate
from .merchant import Merchant, VerificationMode
from .notification import NotificationLog, NotificationStatus
from .order import Order, TradeType
from .reconciliation import DiscrepancyKind, ReconciliationItem, ReconciliationRun, RunStatus
from .refund import Refund

__all__ = [
    "DiscrepancyKind",
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
