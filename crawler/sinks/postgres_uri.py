"""Where a `postgresql://` URI connects, as libpq (and asyncpg) read it: the host and port of the
URI, else its `host=` and `port=` parameters, else PGHOST and PGPORT, else localhost:5432.

Apart from postgres.py so that describing a sink, which every scan does, never imports asyncpg.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from crawler.secrets import redact_uri

DEFAULT_HOST = "localhost"
DEFAULT_PORT = "5432"


@dataclass(frozen=True)
class Address:
    """A host (a name, an address, a socket directory, or a comma-separated list) and a port."""

    host: str
    port: str

    def __str__(self) -> str:
        if "," in self.host:  # the hosts name their own ports
            return self.host
        bare_ipv6 = ":" in self.host and not self.host.startswith("[")
        return f"[{self.host}]:{self.port}" if bare_ipv6 else f"{self.host}:{self.port}"

    @property
    def socket(self) -> bool:
        return self.host.startswith("/")


def _split(uri: str) -> tuple[str, str, str, str]:
    """scheme://, the user part with its @, the host part, the rest (path, query, fragment)."""
    scheme, _, rest = uri.partition("//")
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    auth, at, hostspec = rest[:end].rpartition("@")
    return scheme + "//", auth + at, hostspec, rest[end:]


def _host_port(hostspec: str) -> tuple[str, str]:
    if "," in hostspec:  # several hosts, each with its own port or the default one
        return hostspec, ""
    if hostspec.startswith("["):
        host, closed, port = hostspec[1:].partition("]")
        return (host, port.removeprefix(":")) if closed else (hostspec, "")
    host, _, port = hostspec.partition(":")
    return host, port


def address(uri: str, environ: Mapping[str, str] = os.environ) -> Address:
    """The host and port a connection to `uri` goes to."""
    _, _, hostspec, rest = _split(uri)
    host, port = _host_port(hostspec)
    query = dict(parse_qsl(rest.partition("?")[2].partition("#")[0]))
    if not host:
        host, query_port = _host_port(query.get("host") or environ.get("PGHOST") or DEFAULT_HOST)
        port = port or query_port
    port = port or query.get("port") or environ.get("PGPORT") or DEFAULT_PORT
    return Address(host, port)


def describe_postgres(uri: str, environ: Mapping[str, str] = os.environ) -> str:
    """The URI for a person: its password redacted, and the host and port it connects to
    written in where it leaves them out (`postgresql://` -> `postgresql://localhost:5432`)."""
    scheme, auth, hostspec, rest = _split(uri)
    where = address(uri, environ)
    _, port = _host_port(hostspec)
    if not where.socket and "," not in where.host and not port:
        hostspec = str(where)
    return redact_uri(f"{scheme}{auth}{hostspec}{rest}")
