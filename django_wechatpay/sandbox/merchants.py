"""Merchants: registering the public half of one, or making a whole one with fresh keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .crypto import CertificateAuthority, load_public_key, private_pem, random_string, serial_of
from .state import Merchant, next_number

__all__ = [
    "APIV3_KEY_BYTES",
    "VERIFICATIONS",
    "GeneratedKeys",
    "MerchantCredentials",
    "build_merchant",
    "generate_keys",
    "new_appid",
    "new_mchid",
]

VERIFICATIONS = ("certificate", "public_key", "both")
APIV3_KEY_BYTES = 32


@dataclass
class MerchantCredentials:
    """Everything a client needs to talk to the simulator as this merchant."""

    mchid: str
    appid: str
    appids: list[str]
    serial_no: str  # of the merchant API certificate: the Authorization's serial_no
    private_key_pem: str = field(repr=False)
    apiv3_key: str = field(repr=False)
    verification: str
    partner: bool
    sub_mchids: list[str]
    #: ``(serial, PEM)`` of each platform certificate, as /v3/certificates would give them.
    platform_certificates: list[tuple[str, str]]
    public_key_id: str
    public_key_pem: str
    api_base: str
    certificate_pem: str = ""  # the merchant's own API certificate

    def settings_entry(self, **extra: Any) -> dict[str, Any]:
        """An entry for ``WECHATPAY["MERCHANTS"][mchid]``."""
        entry: dict[str, Any] = {
            "name": f"Sandbox merchant {self.mchid}",
            "partner": self.partner,
            "appid": self.appid,
            "appids": [a for a in self.appids if a != self.appid],
            "serial_no": self.serial_no,
            "private_key": self.private_key_pem,
            "apiv3_key": self.apiv3_key,
            "verification": self.verification,
            "api_base": self.api_base,
        }
        if self.verification != "certificate":
            entry.update(public_key=self.public_key_pem, public_key_id=self.public_key_id)
        entry.update(extra)
        return entry

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; fed back as a merchant of a ``--config`` file, it registers again."""
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "appids": self.appids,
            "serial_no": self.serial_no,
            "private_key_pem": self.private_key_pem,
            "certificate_pem": self.certificate_pem,
            "apiv3_key": self.apiv3_key,
            "verification": self.verification,
            "partner": self.partner,
            "sub_mchids": self.sub_mchids,
            "platform_certificates": [
                {"serial_no": serial, "pem": pem} for serial, pem in self.platform_certificates
            ],
            "public_key_id": self.public_key_id,
            "public_key_pem": self.public_key_pem,
            "api_base": self.api_base,
        }


def new_mchid() -> str:
    return f"19{next_number():08d}"


def new_appid() -> str:
    return f"wx{secrets.token_hex(8)}"


def build_merchant(
    mchid: str,
    *,
    apiv3_key: str,
    appids: list[str],
    certificate_pem: str | None = None,
    public_key_pem: str | None = None,
    serial_no: str | None = None,
    verification: str = "certificate",
    partner: bool = False,
    sub_mchids: list[str] | None = None,
    refund_notify_url: str = "",
) -> Merchant:
    """A merchant from its public half: its API certificate, or a public key and serial."""
    if verification not in VERIFICATIONS:
        raise ValueError(f"verification must be one of {', '.join(VERIFICATIONS)}")
    if len(apiv3_key.encode()) != APIV3_KEY_BYTES:
        raise ValueError("the APIv3 key must be 32 bytes")
    if not appids:
        raise ValueError("a merchant needs at least one appid")
    if certificate_pem:
        cert_serial = serial_of(x509.load_pem_x509_certificate(certificate_pem.encode()))
        if serial_no and serial_no.upper() != cert_serial:
            raise ValueError(f"serial_no {serial_no} is not the certificate's ({cert_serial})")
        serial_no = cert_serial
        public_key = load_public_key(certificate_pem)
    elif public_key_pem and serial_no:
        public_key = load_public_key(public_key_pem)
    else:
        raise ValueError("give the merchant's certificate_pem, or public_key_pem and serial_no")
    return Merchant(
        mchid=mchid,
        serial_no=serial_no,
        public_key=public_key,
        apiv3_key=apiv3_key,
        appids=list(appids),
        verification=verification,
        partner=partner,
        sub_mchids=list(sub_mchids or []),
        refund_notify_url=refund_notify_url,
    )


@dataclass
class GeneratedKeys:
    """The private half of a generated merchant, which the simulator does not keep."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    apiv3_key: str = field(repr=False)


def generate_keys(ca: CertificateAuthority, mchid: str) -> GeneratedKeys:
    """An RSA-2048 key, its API certificate (with a serial), and a random APIv3 key."""
    cert = ca.issue(f"{mchid} merchant API certificate")
    return GeneratedKeys(
        certificate_pem=cert.pem,
        private_key_pem=private_pem(cert.key),
        apiv3_key=random_string(APIV3_KEY_BYTES),
    )
