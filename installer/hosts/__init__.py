"""Hosts: where commands run. See ``base.Host`` for the protocol."""

from installer.hosts.base import Command, Host, Result, command_text
from installer.hosts.local import LocalHost

__all__ = ["Command", "Host", "LocalHost", "Result", "command_text"]
