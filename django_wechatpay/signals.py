"""Signals, each sent once per state transition, after the transaction commits.

Receivers get model instances, never raw dicts; the raw WeChat Pay data is on the
instance (``order.last_response``) and on the notification log when there is one.
``source`` says who found the change: ``"notification"``, ``"poll"``, ``"query"``
(an explicit sync), or ``"reconciliation"``.

================================  ==========================================================
signal                            keyword arguments
================================  ==========================================================
``payment_succeeded``             ``order``, ``source``
``payment_closed``                ``order``, ``source``
``payment_failed``                ``order``, ``source`` (PAYERROR or REVOKED)
``refund_succeeded``              ``refund``, ``order``, ``source``
``refund_closed``                 ``refund``, ``order``, ``source``
``refund_abnormal``               ``refund``, ``order``, ``source``
``notification_received``         ``notification`` (NotificationLog), ``event_type``,
                                  ``resource`` (decrypted dict): every verified notification,
                                  whatever its type, so you can handle the ones we don't
``notification_rejected``         ``notification`` (NotificationLog), ``reason``
``reconciliation_completed``      ``run`` (ReconciliationRun)
``reconciliation_discrepancy``    ``run``, ``items`` (list of ReconciliationItem)
``certificate_expiring``          ``merchant``, ``certificate``, ``days_left``
================================  ==========================================================
"""

from __future__ import annotations

from django.dispatch import Signal

payment_succeeded = Signal()
payment_closed = Signal()
payment_failed = Signal()
refund_succeeded = Signal()
refund_closed = Signal()
refund_abnormal = Signal()
notification_received = Signal()
notification_rejected = Signal()
reconciliation_completed = Signal()
reconciliation_discrepancy = Signal()
certificate_expiring = Signal()
