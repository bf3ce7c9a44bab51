"""Running profit sharing: the system checks of what WeChat Pay would refuse, the polling
command and the Celery task with its schedule."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from django_wechatpay import services, tasks
from django_wechatpay.checks import check_profit_sharing
from django_wechatpay.models import (
    Merchant,
    ProfitSharing,
    ProfitSharingItem,
    ProfitSharingReceiver,
)
from tests.conftest import APPID
from tests.django.test_profit_sharing import STORE, paid_order, shop, store  # noqa: F401


def receiver(merchant: Merchant, **fields) -> ProfitSharingReceiver:
    values = {"type": "MERCHANT_ID", "account": STORE, "relation_type": "STORE"}
    values.update(fields)
    return ProfitSharingReceiver.objects.create(merchant=merchant, **values)


def ids(databases=("default",)) -> list[str]:
    return sorted(message.id for message in check_profit_sharing(databases=list(databases)))


@pytest.fixture
def provider(merchant) -> Merchant:
    merchant.partner = True
    merchant.sub_mchids = ["1600000001"]
    merchant.save()
    return merchant


def test_nothing_to_say_without_a_database_or_with_good_receivers(merchant):
    receiver(merchant)
    receiver(merchant, type="PERSONAL_OPENID", account="o1", appid=APPID)
    assert ids(()) == []
    assert ids() == []


def test_a_service_providers_receiver_names_its_sub_merchant(provider):
    receiver(provider)  # no sub-merchant
    receiver(provider, account="1900000110", sub_mchid="1600000999")  # not its own
    receiver(provider, account="1900000111", sub_mchid="1600000001")  # fine
    assert ids() == ["wechatpay.E030", "wechatpay.E030"]


def test_a_direct_merchant_has_no_sub_merchant_receivers(merchant):
    receiver(merchant, sub_mchid="1600000001")
    receiver(merchant, type="PERSONAL_SUB_OPENID", account="o1", appid="wxsub")
    receiver(merchant, type="PERSONAL_OPENID", account="o2", appid="wxnotours")
    assert ids() == ["wechatpay.E031", "wechatpay.E031", "wechatpay.W030"]
    (warning,) = [
        m for m in check_profit_sharing(databases=["default"]) if m.id.startswith("wechatpay.W")
    ]
    assert "wxnotours" in warning.msg


def test_a_partner_sharing_to_a_receiver_it_has_not_added(provider, make_order):
    order = make_order(state="SUCCESS", transaction_id="4200", sub_mchid="1600000001")
    # Added, but for another sub-merchant than the order's: not a receiver of this one.
    receiver(provider, sub_mchid="1600000002")
    provider.sub_mchids = ["1600000001", "1600000002"]
    provider.save()
    sharing = ProfitSharing.objects.create(
        order=order, merchant=provider, out_order_no="S1", state="CREATED"
    )
    ProfitSharingItem.objects.create(
        sharing=sharing, type="MERCHANT_ID", account=STORE, amount=1, description="x"
    )
    (error,) = check_profit_sharing(databases=["default"])
    assert error.id == "wechatpay.E032"
    assert "S1" in error.msg
    assert "sub-merchant 1600000001" in error.msg
    receiver(provider, sub_mchid="1600000001")
    assert ids() == []
    # A finished sharing is history, not a problem.
    ProfitSharingReceiver.objects.all().delete()
    ProfitSharing.objects.filter(pk=sharing.pk).update(state="FINISHED")
    assert ids() == []


def test_the_check_runs_with_the_database_tag(merchant):
    receiver(merchant, sub_mchid="1600000001")
    out = StringIO()
    with pytest.raises(Exception, match="E031"):
        call_command("check", "--database", "default", stdout=out, stderr=out)
    call_command("check", stdout=StringIO())  # without --database it does not run


def test_the_poll_command_and_task(shop, wechatpay_sandbox):  # noqa: F811
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(order, [services.Share(receiver, 10, "门店")])
    wechatpay_sandbox.hold_notifications()
    wechatpay_sandbox.finish_sharing(sharing.out_order_no)
    out = StringIO()
    call_command("wechatpay_poll", "--sharings-only", "--grace", "0", stdout=out)
    assert out.getvalue().startswith("sharings: checked 1, changed 1")
    assert "returns: checked 0" in out.getvalue()
    sharing.refresh_from_db()
    assert sharing.state == "FINISHED"
    assert tasks.poll_sharings().startswith("sharings: checked 0")
    entry = tasks.beat_schedule()["django_wechatpay.poll_sharings"]
    assert entry["task"] == "django_wechatpay.tasks.poll_sharings"
    assert tasks.poll_sharings.acks_late is True
    assert tasks.poll_sharings.reject_on_worker_lost is True
