"""Backups of a module's data, as its spec declares (``backup:``), kept on the host itself."""
