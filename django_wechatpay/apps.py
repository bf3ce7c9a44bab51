from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WeChatPayConfig(AppConfig):
    name = "django_wechatpay"
    label = "django_wechatpay"
    verbose_name = _("WeChat Pay")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 -- registers the system checks
