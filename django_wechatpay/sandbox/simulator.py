"""The simulator's controls: one object to start, stop, script and inspect WeChat Pay.

::

    with Sandbox.running(time_factor=1000) as sandbox:
        merchant = sandbox.create_merchant()        # keys, serial, APIv3 key, appid
        ...  # point a client at sandbox.base_url
        sandbox.pay(code_url=order["code_url"])     # the payer pays; a notification goes out
        sandbox.wait_for_deliveries(1)

The same controls are served as JSON under ``/sandbox/`` (see :mod:`.control`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import notifications, refunds
from . import profit_sharing as sharing_model
from . import transfers as mch_transfers
from .answers import JSON_TYPE, request_id
from .bill_files import BillChange
from .crypto import Certificate
from .faults import NOTIFY, Fault, Faults
from .merchants import (
    MerchantCredentials,
    build_merchant,
    generate_keys,
    new_appid,
    new_mchid,
)
from .notifier import Notifier
from .orders import check_payable, mark_paid
from .platform_keys import PlatformKeys
from .refunds import OUTCOMES as REFUND_OUTCOMES
from .refunds import finish as end_refund
from .server import SandboxServer
from .state import (
    LOOKUPS,
    Attempt,
    CombineOrder,
    Delivery,
    Merchant,
    Payable,
    Refund,
    Store,
    next_number,
)

__all__ = ["SETTINGS", "Sandbox"]

#: The knobs :meth:`Sandbox.configure` and ``/sandbox/settings`` can turn.
SETTINGS = (
    "recording",
    "refund_outcome",
    "refund_delay",
    "notification_copies",
    "notification_delay",
    "time_factor",
    "delivery_timeout",
    "public_key_share",
    "answer_delay",
    "transfer_accepted_first",
    "transfer_outcome",
    "transfer_delay",
    "transfer_balance",
    "sharing_outcome",
    "sharing_delay",
    "return_outcome",
)


def _check(**settings: Any) -> None:
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {', '.join(SETTINGS)}")
    if settings.get("refund_outcome", "SUCCESS") not in REFUND_OUTCOMES:
        raise ValueError(f"refund_outcome is one of {', '.join(REFUND_OUTCOMES)}")
    if settings.get("time_factor", 1) <= 0:
        raise ValueError("time_factor must be positive")
    if not 0 <= settings.get("answer_delay", 0) <= 60:
        raise ValueError("answer_delay is 0 to 60 seconds")
    if settings.get("transfer_outcome", "SUCCESS") not in mch_transfers.OUTCOMES:
        raise ValueError(f"transfer_outcome is one of {', '.join(mch_transfers.OUTCOMES)}")
    if settings.get("transfer_delay", 0) < 0:
        raise ValueError("transfer_delay must not be negative")
    balance = settings.get("transfer_balance")
    if balance is not None and (not isinstance(balance, int) or balance < 0):
        raise ValueError("transfer_balance is None (unlimited) or fen, at least 0")
    if settings.get("sharing_outcome", "SUCCESS") not in sharing_model.ITEM_OUTCOMES:
        raise ValueError(f"sharing_outcome is one of {', '.join(sharing_model.ITEM_OUTCOMES)}")
    if settings.get("return_outcome", "SUCCESS") not in sharing_model.RETURN_OUTCOMES:
        raise ValueError(f"return_outcome is one of {', '.join(sharing_model.RETURN_OUTCOMES)}")
    if settings.get("sharing_delay", 0) < 0:
        raise ValueError("sharing_delay must not be negative")


class Sandbox:
    """A local WeChat Pay v3. Thread-safe; start it, use ``base_url``, stop it.

    ``port=0`` takes a free port. ``time_factor`` compresses notification retries and
    refund processing (1000: 15 s become 15 ms). ``seed`` makes probabilistic faults
    and the public-key share of notifications repeat exactly. ``public_url`` is the
    address clients use, when it is not ``http://host:port`` (a container, a proxy).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        time_factor: float = 1.0,
        recording: bool = True,
        refund_outcome: str = "SUCCESS",
        refund_delay: float = 0.0,
        seed: int = 0,
        public_url: str | None = None,
    ) -> None:
        _check(time_factor=time_factor, refund_outcome=refund_outcome)
        self.store = Store()
        self.seed = seed
        self.keys = PlatformKeys(seed)
        self.faults: Faults = Faults(self.store.lock, seed)
        self._server = SandboxServer((host, port), self)
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        #: Where clients reach it: in H5 links and bill download URLs too.
        self.base_url = (public_url or f"http://{self.host}:{self.port}").rstrip("/")
        self.notifier = Notifier(
            self.store,
            self._sign_attempt,
            time_factor=time_factor,
            name=f"wechatpay-sandbox-notifier-{self.port}",
        )
        #: Echo well-signed calls to interfaces the simulator does not model.
        self.recording = recording
        #: How refunds end, and after how many (simulated) seconds.
        self.refund_outcome = refund_outcome
        self.refund_delay = refund_delay
        #: Copies of each notification (duplicates), and a delay before the first.
        self.notification_copies = 1
        self.notification_delay = 0.0
        #: Real seconds before each API answer: the network and WeChat Pay's own time
        #: (not compressed by time_factor), for benchmarks and overlap tests.
        self.answer_delay = 0.0
        #: Merchant transfers (商家转账, :mod:`.transfers`): the create answer says
        #: ACCEPTED before WAIT_USER_CONFIRM; how a confirmed transfer ends, after how
        #: many (simulated) seconds; the operating account's fen (None: unlimited).
        self.transfer_bills = mch_transfers.TransferBills()
        self.transfer_accepted_first = False
        self.transfer_outcome = "SUCCESS"
        self.transfer_delay = 0.0
        self.transfer_balance: int | None = None
        #: Profit sharing (分账, :mod:`.profit_sharing`): how each receiver's share and
        #: each return ends, after how many (simulated) seconds.
        self.sharing_book = sharing_model.SharingBook()
        self.sharing_outcome = "SUCCESS"
        self.sharing_delay = 0.0
        self.return_outcome = "SUCCESS"
        self._defaults = self.settings()
        self._timers: list[threading.Timer] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"wechatpay-sandbox-http-{self.port}",
            daemon=True,
        )

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Sandbox:
        self._thread.start()
        self.notifier.start()
        return self

    def stop(self) -> None:
        """Stop serving, end held connections and the notifier; nothing keeps running."""
        self.stopping.set()
        self._cancel_timers()
        self.notifier.stop()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[Sandbox]:
        """``with Sandbox.running() as sandbox:`` on a free loopback port."""
        with cls(**kwargs) as sandbox:
            yield sandbox

    def reset(self) -> None:
        """Forget every merchant, order, refund, delivery, request and fault; undo every
        setting and certificate rotation. The platform keys themselves stay."""
        self._cancel_timers()
        with self.store.lock:
            self.configure(**self._defaults)
            self.store.reset()
            self.transfer_bills.clear()
            self.sharing_book.clear()
            self.faults.clear(self.seed)
            self.keys.reset()
            self.notifier.holding = False
            self.notifier.paused = False
            self.store.touch()

    def quiesce(self, timeout: float = 10.0) -> None:
        """Send nothing more until :meth:`reset`, and wait for the attempt in flight to end.

        A test calls this (the pytest plugin does it for you) before its database is
        flushed: a notification arriving during the flush would deadlock with it."""
        self._cancel_timers()
        self.notifier.pause()
        self.wait_for(lambda: self.notifier.in_flight is None, timeout)

    def _cancel_timers(self) -> None:
        with self.store.lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    # --- settings --------------------------------------------------------------------------

    @property
    def time_factor(self) -> float:
        return self.notifier.time_factor

    @time_factor.setter
    def time_factor(self, value: float) -> None:
        _check(time_factor=value)
        self.notifier.time_factor = value

    @property
    def delivery_timeout(self) -> float:
        """Seconds the merchant has to answer a notification (WeChat Pay: 5)."""
        return self.notifier.timeout

    @delivery_timeout.setter
    def delivery_timeout(self, value: float) -> None:
        self.notifier.timeout = value

    @property
    def public_key_share(self) -> float:
        return self.keys.public_key_share

    @public_key_share.setter
    def public_key_share(self, value: float) -> None:
        self.keys.public_key_share = value

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SETTINGS}

    def configure(self, **settings: Any) -> dict[str, Any]:
        _check(**settings)
        for name, value in settings.items():
            setattr(self, name, value)
        return self.settings()

    # --- merchants ---------------------------------------------------------------------------

    def register_merchant(self, mchid: str, **details: Any) -> Merchant:
        """Register a merchant whose keys the caller made. ``details`` are those of
        :func:`~.merchants.build_merchant`: ``apiv3_key``, ``appids``, ``certificate_pem``
        (or ``public_key_pem`` and ``serial_no``), ``verification``, ``partner``,
        ``sub_mchids``, and the ``refund_notify_url`` "set on the merchant platform"."""
        merchant = build_merchant(mchid, **details)
        with self.store.lock:
            self.store.merchants[mchid] = merchant
            self.store.touch()
        return merchant

    def create_merchant(
        self,
        mchid: str | None = None,
        *,
        verification: str = "certificate",
        partner: bool = False,
        sub_mchids: list[str] | None = None,
        appids: list[str] | None = None,
        refund_notify_url: str = "",
    ) -> MerchantCredentials:
        """A new merchant with fresh keys; everything a client needs comes back."""
        mchid = mchid or new_mchid()
        appids = appids or [new_appid()]
        if partner and not sub_mchids:
            sub_mchids = [f"16{next_number():08d}"]
        keys = generate_keys(self.keys.ca, mchid)
        merchant = self.register_merchant(
            mchid,
            apiv3_key=keys.apiv3_key,
            appids=appids,
            certificate_pem=keys.certificate_pem,
            verification=verification,
            partner=partner,
            sub_mchids=sub_mchids,
            refund_notify_url=refund_notify_url,
        )
        return MerchantCredentials(
            mchid=mchid,
            appid=appids[0],
            appids=list(appids),
            serial_no=merchant.serial_no,
            private_key_pem=keys.private_key_pem,
            apiv3_key=keys.apiv3_key,
            verification=verification,
            partner=partner,
            sub_mchids=list(merchant.sub_mchids),
            platform_certificates=self.platform_certificates(),
            public_key_id=self.keys.public_key_id,
            public_key_pem=self.keys.public_key_pem,
            api_base=self.base_url,
            certificate_pem=keys.certificate_pem,
        )

    def merchants_by_id(self) -> dict[str, Merchant]:
        with self.store.lock:
            return dict(self.store.merchants)

    @property
    def public_key_id(self) -> str:
        return self.keys.public_key_id

    # --- platform certificates (rotation, §3.1) ----------------------------------------------

    def platform_certificates(self) -> list[tuple[str, str]]:
        """``(serial, PEM)`` of each listed certificate, the signing one included."""
        with self.store.lock:
            return [(c.serial, c.pem) for c in self.keys.certificates]

    def add_platform_certificate(self) -> Certificate:
        """Rotation, step 1: a new certificate is listed next to the old one, unused."""
        with self.store.lock:
            return self.keys.add_certificate()

    def switch_platform_certificate(self, serial: str | None = None) -> None:
        """Rotation, step 2: sign with the newest (or the named) certificate."""
        with self.store.lock:
            self.keys.switch(serial)

    def retire_platform_certificate(self, serial: str) -> None:
        """Rotation, step 3: the old certificate leaves /v3/certificates."""
        with self.store.lock:
            self.keys.retire(serial)

    # --- the payer -----------------------------------------------------------------------------

    def find_order(self, **lookup: str) -> Payable:
        """An order (or combine payment) by ``code_url``, ``prepay_id``, ``token`` (of an H5
        link) or ``out_trade_no`` (with ``mchid`` if several merchants use the number)."""
        unknown = set(lookup) - set(LOOKUPS)
        if unknown:
            raise ValueError(f"look orders up by {', '.join(LOOKUPS)}, not {sorted(unknown)}")
        criteria = dict(lookup)
        if criteria.get("code_url"):
            query = parse_qs(urlsplit(criteria.pop("code_url")).query)
            criteria["token"] = query.get("pr", [""])[0]
            if not criteria["token"]:
                raise LookupError("a code_url looks like weixin://wxpay/bizpayurl?pr=<token>")
        found = self.store.find(self.store.payables, **criteria)
        if found is None:
            raise LookupError(f"no order in the sandbox matches {lookup}")
        return found

    def pay(self, *, success: bool = True, **lookup: str) -> Payable:
        """The payer pays (or the payment fails, which WeChat Pay does not notify)."""
        payable = self.find_order(**lookup)
        orders = payable.sub_orders if isinstance(payable, CombineOrder) else [payable]
        with self.store.lock:
            for order in orders:
                check_payable(order)
            for order in orders:
                if success:
                    mark_paid(order)
                else:
                    order.state = "PAYERROR"
            self.store.touch()
            merchant = self.store.merchants[payable.mchid]
            body = notifications.payment_body(merchant.apiv3_key, payable) if success else b""
        if success:
            self._send(merchant, payable.notify_url, "TRANSACTION.SUCCESS", body)
        return payable

    def fail(self, **lookup: str) -> Payable:
        return self.pay(success=False, **lookup)

    # --- refunds ---------------------------------------------------------------------------------

    def console_refund(
        self,
        amount: int,
        *,
        out_refund_no: str | None = None,
        reason: str = "",
        **lookup: str,
    ) -> Refund:
        """A refund made by hand in the merchant console (商户平台), without any API call:
        the merchant's software first hears of it from the notification (sent to the
        refund URL set on the merchant platform, or the order's notify_url without one).
        """
        payable = self.find_order(**lookup)
        if isinstance(payable, CombineOrder):
            raise LookupError("refund a sub-order of a combine payment by its out_trade_no")
        with self.store.lock:
            merchant = self.store.merchants[payable.mchid]
            refund = refunds.open_refund(
                self,
                payable,
                mchid=payable.mchid,
                sub_mchid=payable.key[1],
                out_refund_no=out_refund_no or f"CONSOLE{next_number():012d}",
                amount=amount,
                notify_url=merchant.refund_notify_url or payable.notify_url,
                request={"reason": reason, "made_in": "merchant console"},
            )
        self.schedule_refund(refund)
        return refund

    def schedule_refund(self, refund: Refund) -> None:
        """Finish a new refund after ``refund_delay`` simulated seconds."""
        timer = threading.Timer(
            self.refund_delay / self.time_factor, self._finish_scheduled, args=(refund,)
        )
        timer.daemon = True
        with self.store.lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _finish_scheduled(self, refund: Refund) -> None:
        with contextlib.suppress(LookupError):  # forgotten by a reset meanwhile
            self.finish_refund(refund, outcome=self.refund_outcome)

    def finish_refund(
        self,
        refund: Refund | str,
        *,
        outcome: str | None = None,
        mchid: str | None = None,
    ) -> Refund:
        """End a PROCESSING refund now (by object or out_refund_no) and notify it."""
        with self.store.lock:
            if isinstance(refund, str):
                found = self.store.find(
                    lambda: list(self.store.refunds.values()),
                    out_refund_no=refund,
                    mchid=mchid or "",
                )
                if found is None:
                    raise LookupError(f"no refund {refund} in the sandbox")
                refund = found
            merchant = self.store.merchants.get(refund.mchid)
            if merchant is None or self.store.refunds.get(refund.key) is not refund:
                raise LookupError(f"refund {refund.out_refund_no} is no longer in the sandbox")
            if not end_refund(refund, outcome or self.refund_outcome):
                return refund
            self.store.touch()
            body = notifications.refund_body(merchant.apiv3_key, refund)
        self._send(merchant, refund.notify_url, f"REFUND.{refund.status}", body)
        return refund

    # --- merchant transfers (商家转账) ---------------------------------------------------------

    def find_transfer(self, **lookup: str) -> mch_transfers.TransferBill:
        """A transfer by ``package`` (its ``package_info``), ``out_bill_no`` or
        ``transfer_bill_no``, with ``mchid`` if several merchants use the number."""
        with self.store.lock:
            return self.transfer_bills.find(**lookup)

    def confirm_transfer(self, *, openid: str = "", **lookup: str) -> mch_transfers.TransferBill:
        """The payee confirms in WeChat (as ``openid``, if given: only the payee may); the
        transfer ends ``transfer_outcome`` after ``transfer_delay`` and is notified."""
        with self.store.lock:
            bill = self.transfer_bills.find(**lookup)
            mch_transfers.confirm(bill, openid)
            self.store.touch()
        self.schedule_transfer(bill)
        return bill

    def expire_transfer(self, **lookup: str) -> mch_transfers.TransferBill:
        """A transfer its payee never confirmed reaches its end of validity: FAIL."""
        with self.store.lock:
            bill = self.transfer_bills.find(**lookup)
            mch_transfers.expire(bill)
            self.store.touch()
            merchant = self.store.merchants[bill.mchid]
            body = mch_transfers.notification_body(merchant.apiv3_key, bill)
        self._send(merchant, bill.notify_url, mch_transfers.EVENT_TYPE, body)
        return bill

    def schedule_transfer(self, bill: mch_transfers.TransferBill) -> None:
        """End a TRANSFERING or CANCELING transfer after ``transfer_delay`` simulated s."""
        timer = threading.Timer(
            self.transfer_delay / self.time_factor, self._finish_transfer_scheduled, args=(bill,)
        )
        timer.daemon = True
        with self.store.lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _finish_transfer_scheduled(self, bill: mch_transfers.TransferBill) -> None:
        with contextlib.suppress(LookupError):  # forgotten by a reset meanwhile
            self.finish_transfer(bill)

    def finish_transfer(
        self,
        bill: mch_transfers.TransferBill | None = None,
        *,
        outcome: str | None = None,
        **lookup: str,
    ) -> mch_transfers.TransferBill:
        """End a TRANSFERING (``outcome``) or CANCELING transfer now, and notify it."""
        with self.store.lock:
            bill = bill or self.transfer_bills.find(**lookup)
            merchant = self.store.merchants.get(bill.mchid)
            if merchant is None or self.transfer_bills.bills.get(bill.key) is not bill:
                raise LookupError(f"transfer {bill.out_bill_no} is no longer in the sandbox")
            if not mch_transfers.finish(bill, outcome or self.transfer_outcome):
                return bill
            self.store.touch()
            body = mch_transfers.notification_body(merchant.apiv3_key, bill)
        self._send(merchant, bill.notify_url, mch_transfers.EVENT_TYPE, body)
        return bill

    # --- profit sharing (分账) ----------------------------------------------------------------

    def schedule_sharing(self, entry: sharing_model.Sharing | sharing_model.SharingReturn) -> None:
        """Finish a new sharing, unfreezing or return after ``sharing_delay`` simulated s."""
        timer = threading.Timer(
            self.sharing_delay / self.time_factor, self._finish_sharing_scheduled, args=(entry,)
        )
        timer.daemon = True
        with self.store.lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _finish_sharing_scheduled(
        self, entry: sharing_model.Sharing | sharing_model.SharingReturn
    ) -> None:
        with contextlib.suppress(LookupError):  # forgotten by a reset meanwhile
            if isinstance(entry, sharing_model.SharingReturn):
                self.finish_sharing_return(entry)
            else:
                self.finish_sharing(entry)

    def finish_sharing(
        self,
        sharing: sharing_model.Sharing | str,
        *,
        outcomes: dict[str, str] | None = None,
        mchid: str | None = None,
    ) -> sharing_model.Sharing:
        """End a PROCESSING sharing (or unfreezing) now, by object or out_order_no: each
        receiver ``outcomes[account]`` or ``sharing_outcome``; successes are notified."""
        with self.store.lock:
            if isinstance(sharing, str):
                sharing = self.sharing_book.find_sharing(sharing, mchid or "")
            merchant = self.store.merchants.get(sharing.mchid)
            if merchant is None or self.sharing_book.sharings.get(sharing.key) is not sharing:
                raise LookupError(f"sharing {sharing.out_order_no} is no longer in the sandbox")
            sends = sharing_model.finish_sharing(
                self, sharing, outcomes or {}, self.sharing_outcome
            )
            bodies = [
                (event, sharing_model.notification_body(merchant.apiv3_key, event, resource))
                for event, resource in sends
            ]
        for event, body in bodies:
            self._send(merchant, sharing.notify_url, event, body)
        return sharing

    def finish_sharing_return(
        self,
        record: sharing_model.SharingReturn | str,
        *,
        outcome: str | None = None,
        mchid: str | None = None,
    ) -> sharing_model.SharingReturn:
        """End a PROCESSING return now (by object or out_return_no); a success is notified."""
        with self.store.lock:
            if isinstance(record, str):
                record = self.sharing_book.find_return(record, mchid or "")
            merchant = self.store.merchants.get(record.mchid)
            if merchant is None or self.sharing_book.returns.get(record.key) is not record:
                raise LookupError(f"return {record.out_return_no} is no longer in the sandbox")
            sends = sharing_model.finish_return(record, outcome or self.return_outcome)
            self.store.touch()
            bodies = [
                (event, sharing_model.notification_body(merchant.apiv3_key, event, resource))
                for event, resource in sends
            ]
        for event, body in bodies:
            self._send(merchant, record.sharing.notify_url, event, body)
        return record

    def sharings(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [s.as_dict() for s in self.sharing_book.sharings.values()]

    def sharing_returns(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [r.as_dict() for r in self.sharing_book.returns.values()]

    # --- notifications -----------------------------------------------------------------------

    def _send(self, merchant: Merchant, url: str, event_type: str, body: bytes) -> None:
        if not url:
            return  # nowhere to send it, as for a refund without any notify URL
        for copy in range(self.notification_copies):
            delivery = Delivery(
                id=next_number(), mchid=merchant.mchid, url=url, event_type=event_type, body=body
            )
            # Copies a hair apart, so they go out in a fixed order.
            self.notifier.enqueue(delivery, delay=self.notification_delay + copy * 1e-3)

    def _sign_attempt(self, delivery: Delivery) -> tuple[dict[str, str], str, str]:
        with self.store.lock:
            merchant = self.store.merchants.get(delivery.mchid)
            if merchant is None:
                raise LookupError(f"merchant {delivery.mchid} is no longer in the sandbox")
            signer = self.keys.notification_signer(merchant)
        fault = self.faults.draw(NOTIFY, delivery.event_type)
        tampering = fault.kind if fault else ""
        headers = {
            "Content-Type": JSON_TYPE,
            "User-Agent": "Mozilla/4.0",
            "Request-ID": request_id(),
            **signer.headers(delivery.body, tampering),
        }
        return headers, headers["Wechatpay-Serial"], tampering

    def hold_notifications(self) -> None:
        """New notifications wait for :meth:`release_notifications`."""
        self.notifier.hold()

    def release_notifications(self, *, reverse: bool = False) -> None:
        self.notifier.release(reverse=reverse)

    def deliver_due_now(self) -> None:
        """Send every pending retry now instead of when the schedule says."""
        self.notifier.deliver_due_now()

    def deliveries(self) -> list[Delivery]:
        with self.store.lock:
            return list(self.store.deliveries)

    def attempts(self, event_type: str | None = None) -> list[Attempt]:
        """Every delivery attempt so far, in the order the deliveries were made."""
        return [
            attempt
            for d in self.deliveries()
            if event_type in (None, d.event_type)
            for attempt in d.attempts
        ]

    def delivered_count(self, event_type: str | None = None) -> int:
        return sum(
            1 for d in self.deliveries() if d.delivered and event_type in (None, d.event_type)
        )

    # --- waiting without sleeping ------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` holds; re-checked on every change of state."""
        deadline = time.monotonic() + timeout
        with self.store.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the sandbox did not reach the expected state in time")
                self.store.changed.wait(remaining)

    def wait_for_deliveries(
        self, count: int, timeout: float = 10.0, event_type: str | None = None
    ) -> None:
        """Until ``count`` notifications (of ``event_type``) were answered 2xx."""
        self.wait_for(lambda: self.delivered_count(event_type) >= count, timeout)

    def wait_for_attempts(
        self, count: int, timeout: float = 10.0, event_type: str | None = None
    ) -> None:
        """Until ``count`` delivery attempts, whatever their answers, were made."""
        self.wait_for(lambda: len(self.attempts(event_type)) >= count, timeout)

    # --- faults ------------------------------------------------------------------------------

    def add_fault(self, kind: str, **rule: Any) -> Fault:
        """Fault API calls: ``method``, ``path`` (a regex), ``times`` or ``probability``,
        ``seconds`` (latency, timeout), ``after`` (process the call, then lose the answer)."""
        return self.faults.add(Fault(kind=kind, **rule))

    def add_notification_fault(
        self,
        kind: str,
        event_type: str = ".*",
        *,
        times: int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Mis-sign the next notification attempts: ``probe``, ``unknown_serial`` or
        ``bad_signature``. Retries after the merchant refuses one are signed well."""
        return self.faults.add(
            Fault(kind=kind, method=NOTIFY, path=event_type, times=times, probability=probability)
        )

    def clear_faults(self, seed: int | None = None) -> None:
        self.faults.clear(self.seed if seed is None else seed)

    # --- bills (reconciliation tests) --------------------------------------------------------

    def add_bill_row(self, row: list[str]) -> None:
        """A row every trade bill will carry: the 27 values of the ALL layout, unprefixed."""
        with self.store.lock:
            self.store.extra_bill_rows.append(list(row))

    def change_in_bill(
        self,
        out_trade_no: str,
        *,
        omit: bool = False,
        amount: int | None = None,
        state: str | None = None,
    ) -> None:
        """Make the bill disagree about one paid order: leave it out, or misstate its
        amount (fen) or its 交易状态."""
        with self.store.lock:
            self.store.bill_changes[out_trade_no] = BillChange(omit, amount, state)

    # --- inspection --------------------------------------------------------------------------

    def orders(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [o.as_dict() for o in self.store.orders.values()]

    def refunds(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [r.as_dict() for r in self.store.refunds.values()]

    def transfers(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [b.as_dict() for b in self.transfer_bills.bills.values()]

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first (the last ``limit`` entries)."""
        with self.store.lock:
            return list(self.store.requests[-limit:] if limit else self.store.requests)

    def snapshot(self, request_limit: int = 200) -> dict[str, Any]:
        with self.store.lock:
            return {
                "base_url": self.base_url,
                "merchants": sorted(self.store.merchants),
                "orders": self.orders(),
                "refunds": self.refunds(),
                "transfers": self.transfers(),
                "sharings": self.sharings(),
                "sharing_returns": self.sharing_returns(),
                "deliveries": [d.as_dict() for d in self.store.deliveries],
                "requests": self.requests(request_limit),
                "faults": [f.as_dict() for f in self.faults.rules()],
                "settings": self.settings(),
                "platform_certificates": [s for s, _ in self.platform_certificates()],
                "signing_certificate": self.keys.signing_serial,
                "public_key_id": self.keys.public_key_id,
            }
