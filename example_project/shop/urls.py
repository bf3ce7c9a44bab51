from django.urls import path

from . import views

app_name = "shop"

urlpatterns = [
    path("", views.products, name="products"),
    path("buy/<slug:slug>/", views.checkout, name="checkout"),
    path("orders/<str:out_trade_no>/", views.order_page, name="order"),
    path("orders/<str:out_trade_no>/status.json", views.order_status, name="order-status"),
]
