from django.urls import path

from . import views

app_name = "django_wechatpay"

urlpatterns = [
    path("notify/<str:mchid>/", views.notify, name="notify"),
]
