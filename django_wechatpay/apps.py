from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

__all__ = ["WeChatPayConfig"]


class WeChatPayConfig(AppConfig):
    name = "django_wechatpay"
    label = "django_wechatpay"
    verbose_name = _("WeChat Pay")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (  # noqa: F401 -- register the system checks, and the signals with the outbox
            checks,
            signals,
        )
