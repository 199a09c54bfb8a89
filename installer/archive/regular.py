"""Read bundle files as regular files only: never follow a link, never block on a FIFO.

An attacker who can write the bundle folder can put a FIFO, a device, a socket or a symbolic
link where a listed file should be. `lstat` + `S_ISREG` refuses them by name before anything is
opened; opening with O_NOFOLLOW|O_NONBLOCK and checking the opened descriptor again (fstat)
closes the gap between the two, so a swap after the lstat is refused too and never hangs.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Optional

CHUNK = 1 << 20
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class NotRegular(Exception):
    """A bundle path that is not a plain file; str() is the reason, without the path."""


def kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special file"


def _refuse(mode: int) -> NotRegular:
    return NotRegular(f"a {kind_of(mode)}, not a regular file; bundles hold plain files only")


def lstat_regular(path: str) -> os.stat_result:
    """The file's stat; raises FileNotFoundError, or NotRegular for anything but a plain file."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(st.st_mode)
    return st


def open_regular(path: str) -> BinaryIO:
    """A blocking binary reader of a plain file, opened without following links or waiting
    on a FIFO. Raises FileNotFoundError or NotRegular."""
    lstat_regular(path)
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link swapped in
            raise NotRegular(
                "symbolic link, not a regular file; bundles hold plain files"
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(st.st_mode)
        os.set_blocking(fd, True)  # O_NONBLOCK only guarded the open; a plain file reads fully
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: Optional[int] = None) -> bytes:
    """The whole content of a plain file, read once; NotRegular past `limit` bytes."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            raise NotRegular(f"{size} bytes, larger than any file a bundle lists ({limit})")
        data = fh.read() if limit is None else fh.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise NotRegular(f"grew past {limit} bytes while being read")
        return data
