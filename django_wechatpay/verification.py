"""The verification modes a merchant can be in, and the verifier each one builds.

This table is the only place that knows what a mode means: which keys it needs and which
:mod:`~django_wechatpay.core.verifier` strategy it makes. Adding a mode is a row here and
a choice below; the client, the notify view and the certificate rotation ask the verifier
itself, never the mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext_lazy as _

from .core.certificates import CertificateStore
from .core.errors import ConfigurationError
from .core.transport import Transport
from .core.verifier import (
    CertificateDownloader,
    CertificateVerifier,
    CombinedVerifier,
    PublicKeyVerifier,
    Verifier,
    WeChatPayPublicKey,
)

__all__ = ["MODES", "ModeRule", "VerificationMode", "VerifierParts", "build_verifier"]


class VerificationMode(models.TextChoices):
    CERTIFICATE = "certificate", _("Platform certificates")
    PUBLIC_KEY = "public_key", _("WeChat Pay public key")
    BOTH = "both", _("Both (during migration)")


@dataclass(frozen=True)
class VerifierParts:
    """What a merchant's verifier can be built from."""

    transport: Transport
    #: Out of the repr: this object is a local of the frames that build a client.
    apiv3_key: str = field(repr=False)
    store: CertificateStore
    public_key: WeChatPayPublicKey | None
    refresh_interval: float
    #: True when a certificate download may start now (shared across processes).
    refresh_gate: Callable[[], bool] | None = None


def _certificates(parts: VerifierParts) -> CertificateVerifier:
    return CertificateVerifier(
        parts.store,
        downloader=CertificateDownloader(
            parts.transport, parts.apiv3_key, public_key=parts.public_key
        ),
        refresh_interval=parts.refresh_interval,
        gate=parts.refresh_gate,
    )


def _public_key(parts: VerifierParts) -> PublicKeyVerifier:
    if parts.public_key is None:
        raise ConfigurationError("this verification mode needs the WeChat Pay public key")
    return PublicKeyVerifier(parts.public_key)


@dataclass(frozen=True)
class ModeRule:
    needs_public_key: bool
    build: Callable[[VerifierParts], Verifier]


MODES: Mapping[str, ModeRule] = {
    VerificationMode.CERTIFICATE: ModeRule(needs_public_key=False, build=_certificates),
    VerificationMode.PUBLIC_KEY: ModeRule(needs_public_key=True, build=_public_key),
    VerificationMode.BOTH: ModeRule(
        needs_public_key=True,
        build=lambda parts: CombinedVerifier(_public_key(parts), _certificates(parts)),
    ),
}


def build_verifier(mode: str, parts: VerifierParts) -> Verifier:
    rule = MODES[mode]
    if rule.needs_public_key and parts.public_key is None:
        raise ConfigurationError(f"verification {mode!r} needs the WeChat Pay public key")
    return rule.build(parts)
