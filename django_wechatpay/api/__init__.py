"""The front-end payment API on Django REST framework (``pip install django-wechatpay[drf]``).

Mount it yourself: ``path("api/wechatpay/", include("django_wechatpay.api.urls"))``, and
name the function that prices orders in ``WECHATPAY["API_ORDER_FACTORY"]``
(:mod:`.terms`): the buyer never does.
"""
