"""Every interface of the reference list, by name: the one place calls are looked up."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType

from ..errors import UnknownEndpointError
from .groups import ALL_GROUPS
from .spec import Endpoint

__all__ = ["ALIASES", "ENDPOINTS", "endpoint", "endpoints"]


def _index() -> MappingProxyType[str, Endpoint]:
    index: dict[str, Endpoint] = {}
    for group in ALL_GROUPS:
        for endpoint in group:
            if endpoint.name in index:
                raise ValueError(f"two registry entries named {endpoint.name}")
            index[endpoint.name] = endpoint
    return MappingProxyType(index)


ENDPOINTS = _index()
ALIASES = MappingProxyType({a: e for e in ENDPOINTS.values() for a in e.aliases})
if set(ALIASES) & set(ENDPOINTS):
    raise ValueError(f"aliases shadow entries: {sorted(set(ALIASES) & set(ENDPOINTS))}")


def endpoint(name: str) -> Endpoint:
    try:
        return ENDPOINTS[name] if name in ENDPOINTS else ALIASES[name]
    except KeyError:
        raise UnknownEndpointError(f"no WeChat Pay interface named {name!r}") from None


def endpoints() -> Iterator[Endpoint]:
    """In the order of the reference list."""
    return iter(ENDPOINTS.values())
