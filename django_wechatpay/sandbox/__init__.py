"""A local WeChat Pay v3: the simulator behind ``make demo``, our tests and yours.

Its checks are written again from the protocol reference and never import
``django_wechatpay.core``: a bug shared with the client would otherwise cancel out.
Nothing here imports Django either; run it with ``python -m django_wechatpay.sandbox``.
"""

from .crypto import Certificate
from .faults import KINDS as FAULT_KINDS
from .faults import NOTIFICATION_KINDS as NOTIFICATION_FAULT_KINDS
from .faults import Fault
from .merchants import MerchantCredentials
from .receiver import NotifyReceiver
from .simulator import Sandbox

__all__ = [
    "FAULT_KINDS",
    "NOTIFICATION_FAULT_KINDS",
    "Certificate",
    "Fault",
    "MerchantCredentials",
    "NotifyReceiver",
    "Sandbox",
]
