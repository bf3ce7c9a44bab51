"""Profit sharing in the admin: staff who may only look are offered no action and reach no
form (and WeChat Pay hears nothing: the simulator's request log says so); with
``share_order`` they add and remove receivers, share, unfreeze and return."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.urls import reverse

from django_wechatpay import services
from django_wechatpay.models import ProfitSharing, ProfitSharingReceiver
from tests.django.test_admin_permissions import offered, run, staff
from tests.django.test_profit_sharing import STORE, finish, paid_order, shop, store  # noqa: F401

VIEW = (
    "view_profitsharing",
    "view_profitsharingitem",
    "view_profitsharingreceiver",
    "view_profitsharingreturn",
)
RECEIVERS = "admin:django_wechatpay_profitsharingreceiver_changelist"
SHARINGS = "admin:django_wechatpay_profitsharing_changelist"
RETURNS = "admin:django_wechatpay_profitsharingreturn_changelist"
SHARE = "admin:django_wechatpay_profitsharing_share"


def test_looking_is_not_sharing(client, shop, wechatpay_sandbox):  # noqa: F811
    receiver = store(shop)
    order = paid_order(shop, wechatpay_sandbox)
    sharing = services.share(order, [services.Share(receiver, 10, "门店")])
    calls = len(wechatpay_sandbox.requests())
    client.force_login(staff(*VIEW))
    assert offered(client, RECEIVERS) == set()
    assert offered(client, SHARINGS) == set()
    for url in (
        reverse(SHARE),
        reverse("admin:django_wechatpay_profitsharing_return", args=[sharing.pk]),
        reverse("admin:django_wechatpay_profitsharingreceiver_add"),
    ):
        assert client.get(url).status_code == 403, url
    response = client.post(reverse(SHARE), {"out_trade_no": order.out_trade_no})
    assert response.status_code == 403
    run(client, RECEIVERS, "remove_selected", receiver.pk)
    run(client, SHARINGS, "unfreeze_selected", sharing.pk)
    receiver.refresh_from_db()
    assert receiver.active
    assert ProfitSharing.objects.count() == 1
    assert len(wechatpay_sandbox.requests()) == calls
    # The pages themselves are there to look at.
    for changelist in (RECEIVERS, SHARINGS, RETURNS):
        assert client.get(reverse(changelist)).status_code == 200
    change = reverse("admin:django_wechatpay_profitsharing_change", args=[sharing.pk])
    page = client.get(change).content.decode()
    assert STORE in page


def test_with_share_order_staff_share_unfreeze_and_return(client, shop, wechatpay_sandbox):  # noqa: F811
    client.force_login(staff(*VIEW, "share_order", "change_profitsharing"))
    assert offered(client, SHARINGS) == {"sync_selected", "unfreeze_selected", "return_selected"}
    assert offered(client, RECEIVERS) == {"remove_selected", "share_with_selected"}

    added = client.post(
        reverse("admin:django_wechatpay_profitsharingreceiver_add"),
        {
            "merchant": shop.pk,
            "type": "MERCHANT_ID",
            "account": STORE,
            "name": "某某门店",
            "relation_type": "STORE",
        },
    )
    assert added.status_code == 302, added.content.decode()
    receiver = ProfitSharingReceiver.objects.get()
    assert receiver.name_encrypted
    assert "某某门店" not in receiver.name_encrypted
    assert "某某门店" not in client.get(reverse(RECEIVERS)).content.decode()

    order = paid_order(shop, wechatpay_sandbox)
    # The receivers' action leads to the share form with them.
    response = client.post(
        reverse(RECEIVERS), {"action": "share_with_selected", "_selected_action": [receiver.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(SHARE) + f"?receivers={receiver.pk}"
    form = client.get(response["Location"])
    assert f"amount_{receiver.pk}" in form.content.decode()
    too_much = client.post(
        response["Location"],
        {
            "out_trade_no": order.out_trade_no,
            f"amount_{receiver.pk}": "1.01",
            f"description_{receiver.pk}": "分给门店",
        },
    )
    assert too_much.status_code == 200
    assert "exceeds" in too_much.content.decode()
    shared = client.post(
        response["Location"],
        {
            "out_trade_no": order.out_trade_no,
            f"amount_{receiver.pk}": "0.40",
            f"description_{receiver.pk}": "分给门店",
        },
    )
    assert shared.status_code == 302
    sharing = ProfitSharing.objects.get()
    assert (sharing.requested_by.username, sharing.items.get().amount) == (
        f"staff{User.objects.count() - 1}",
        40,
    )
    finish(wechatpay_sandbox, sharing)

    returned = client.post(
        reverse("admin:django_wechatpay_profitsharing_return", args=[sharing.pk]),
        {"return_mchid": STORE, "amount": "0.15", "description": "用户退款"},
    )
    assert returned.status_code == 302, returned.content.decode()
    assert sharing.returns.get().amount == 15

    run(client, SHARINGS, "unfreeze_selected", sharing.pk)
    unfrozen = ProfitSharing.objects.get(unfreeze=True)
    assert unfrozen.order_id == order.pk
    assert unfrozen.requested_by is not None

    client.force_login(staff(*VIEW, "share_order"))
    run(client, RECEIVERS, "remove_selected", receiver.pk)
    receiver.refresh_from_db()
    assert not receiver.active
    assert wechatpay_sandbox.sharing_book.receivers == {}


def test_the_add_button_is_the_share_form(admin_client, shop):  # noqa: F811
    response = admin_client.get(reverse("admin:django_wechatpay_profitsharing_add"))
    assert response.status_code == 302
    assert response["Location"] == reverse(SHARE)
    page = admin_client.get(reverse(SHARE))
    assert page.status_code == 200
    empty = admin_client.post(reverse(SHARE), {"out_trade_no": "NOPE0001"})
    assert "No paid order has this number." in empty.content.decode()
