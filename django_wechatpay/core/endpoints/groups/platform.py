"""平台证书: the platform certificates WeChat Pay signs with (protocol §3.1).

Called by :class:`~django_wechatpay.core.verifier.CertificateDownloader`, which checks
the answer with the certificates it delivers: the client's own verifier cannot, since
the answer is signed by a certificate it is about to learn.
"""

from __future__ import annotations

from ..spec import both, entries, get

__all__ = ["ENTRIES", "platform"]

platform = entries("其他能力", "平台证书")

ENTRIES = [
    platform(
        "certificates",
        "下载平台证书",
        **both(get("/v3/certificates", verified=False)),
        correction=(
            "wechatpayv3 has no function for it: it downloads certificates inside "
            "Core._update_certificates."
        ),
        reference="wechatpay-go core/downloader/downloader.go; protocol reference §3.1",
    ),
]
