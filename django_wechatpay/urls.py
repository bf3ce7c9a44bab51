from django.urls import re_path

from . import views

__all__ = ["app_name", "urlpatterns"]

app_name = "django_wechatpay"

urlpatterns = [
    # A merchant id is ASCII digits: anything else in that place (a %0A that forged log
    # lines, a %00 that the database refused with a 500) is not routed at all. \Z, not
    # $: $ also matches before a trailing newline.
    re_path(r"^notify/(?P<mchid>[0-9]{1,32})/\Z", views.notify, name="notify"),
]
