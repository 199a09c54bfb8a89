"""HostSpec: how to reach a host, parsed from ``user@host:port`` as engineers type it after -H."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

from installer.errors import UsageError
from installer.i18n import _

_SPEC = re.compile(
    r"""^(?:(?P<user>[^@\s:]+)@)?          # user@ (optional)
        (?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]   # [ipv6] ...
          |(?P<host>[^@\s:\[\]]+))         # ... or a name / IPv4
        (?::(?P<port>\d+))?$               # :port (optional)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class HostSpec:
    """Connection settings of one host; secrets are kept out of ``repr``."""

    host: str
    user: str = "root"
    port: int = 22
    key_filename: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    sudo_password: Optional[str] = field(default=None, repr=False)
    jump: Optional[HostSpec] = None

    @classmethod
    def parse(cls, text: str, **defaults: object) -> HostSpec:
        """``host``, ``user@host``, ``user@host:port``, ``[v6]:port``; ``defaults`` fill the rest."""
        m = _SPEC.match(text.strip())
        if not m:
            raise UsageError(
                _("bad host {text!r}: expected user@host[:port] (IPv6 as [addr]:port)").format(
                    text=text
                )
            )
        host = m.group("v6") or m.group("host")
        spec = cls(host=host, **defaults)  # type: ignore[arg-type]
        if m.group("user"):
            spec = replace(spec, user=m.group("user"))
        if m.group("port"):
            port = int(m.group("port"))
            if not 0 < port < 65536:
                raise UsageError(
                    _("bad host {text!r}: port {port} is out of range 1-65535").format(
                        text=text, port=port
                    )
                )
            spec = replace(spec, port=port)
        return spec

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH uses in known_hosts: ``host`` on port 22, ``[host]:port`` otherwise."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{host}{port}"
