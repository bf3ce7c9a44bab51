"""A project that forgot ``include("django_wechatpay.urls")`` (check wechatpay.E012)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
