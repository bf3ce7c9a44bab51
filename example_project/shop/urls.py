from django.urls import path

from . import market_views, views

app_name = "shop"

urlpatterns = [
    path("", views.products, name="products"),
    path("buy/<slug:slug>/", views.checkout, name="checkout"),
    path("orders/<str:out_trade_no>/", views.order_page, name="order"),
    path("orders/<str:out_trade_no>/status.json", views.order_status, name="order-status"),
    path("marketplace/", market_views.market, name="market"),
    path("marketplace/cart/", market_views.cart_page, name="cart"),
    path("marketplace/cart/<slug:slug>/", market_views.cart_change, name="cart-change"),
    path("marketplace/checkout/", market_views.market_checkout, name="market-checkout"),
    path(
        "marketplace/orders/<str:combine_out_trade_no>/",
        market_views.market_order,
        name="market-order",
    ),
    path(
        "marketplace/orders/<str:combine_out_trade_no>/status.json",
        market_views.market_order_status,
        name="market-order-status",
    ),
    path(
        "marketplace/orders/<str:combine_out_trade_no>/deliver/",
        market_views.market_deliver,
        name="market-deliver",
    ),
]
