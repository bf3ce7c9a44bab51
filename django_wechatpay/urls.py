from django.urls import path

from . import views

__all__ = ["app_name", "urlpatterns"]

app_name = "django_wechatpay"

urlpatterns = [
    path("notify/<str:mchid>/", views.notify, name="notify"),
]
