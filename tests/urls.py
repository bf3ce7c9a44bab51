from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("wechatpay/", include("django_wechatpay.urls")),
    path("api/wechatpay/", include("django_wechatpay.api.urls")),
]
