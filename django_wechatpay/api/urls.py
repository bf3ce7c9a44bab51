from django.urls import path

from . import views

__all__ = ["app_name", "urlpatterns"]

app_name = "django_wechatpay_api"

urlpatterns = [
    path("orders/", views.OrderCreateView.as_view(), name="order-create"),
    path("orders/<str:out_trade_no>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:out_trade_no>/close/", views.OrderCloseView.as_view(), name="order-close"),
    path(
        "orders/<str:out_trade_no>/refunds/", views.OrderRefundsView.as_view(), name="order-refunds"
    ),
    path(
        "orders/<str:out_trade_no>/qrcode.svg",
        views.OrderQRCodeView.as_view(),
        {"fmt": "svg"},
        name="order-qrcode-svg",
    ),
    path(
        "orders/<str:out_trade_no>/qrcode.png",
        views.OrderQRCodeView.as_view(),
        {"fmt": "png"},
        name="order-qrcode-png",
    ),
]
