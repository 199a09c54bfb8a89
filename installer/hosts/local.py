"""LocalHost: the Host protocol on this machine, through subprocess and the filesystem."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from typing import BinaryIO, Iterable, Iterator, Mapping, Optional, Union

from installer.errors import HostError
from installer.hosts.base import Command, LockHeld, Result, command_text
from installer.i18n import _

F_SETPIPE_SZ = 1031  # Linux fcntl; not in the fcntl module before Python 3.10


def _argv(cmd: Command) -> list[str]:
    if isinstance(cmd, str):
        return ["sh", "-c", cmd]
    return list(cmd)


def _decode(data: Optional[bytes]) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group `proc` leads, and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


class LocalHost:
    """This machine. Commands run without a shell unless given as a string."""

    def __init__(self, name: str = "localhost") -> None:
        self.name = name

    @property
    def is_local(self) -> bool:
        return True

    @property
    def sees_controller_files(self) -> bool:
        return True

    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        """flock(2): the kernel drops it when this process ends, however it ends."""
        try:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            fh = open(path, "w")
        except PermissionError:
            raise HostError(
                _("cannot write {path} on {name}: run as root (sudo)").format(
                    path=path, name=self.name
                )
            ) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeld(
                    _("another Sealbox run holds {path} on {name}; wait for it to finish").format(
                        path=path, name=self.name
                    )
                ) from None
            yield

    def run(
        self,
        cmd: Command,
        *,
        input: Optional[bytes] = None,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> Result:
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        try:
            proc = subprocess.run(
                _argv(cmd),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                env=full_env,
            )
        except FileNotFoundError as exc:
            return Result(command_text(cmd), 127, "", f"{exc.filename}: command not found")
        except subprocess.TimeoutExpired as exc:
            return Result(
                command_text(cmd), 124, _decode(exc.stdout), f"timed out after {timeout}s"
            )
        return Result(
            command_text(cmd), proc.returncode, _decode(proc.stdout), _decode(proc.stderr)
        )

    def run_streaming_input(
        self,
        cmd: Command,
        chunks: Iterable[bytes],
        *,
        timeout: Optional[float] = None,
    ) -> Result:
        """The command runs in its own process group (session): when the producer fails (a
        checksum that does not match, Ctrl-C) or it times out, the whole group is killed --
        a pipeline's every stage, not only the shell in front of it."""
        try:
            proc = subprocess.Popen(
                _argv(cmd),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            return Result(command_text(cmd), 127, "", f"{exc.filename}: command not found")
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
            threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
        ]
        for t in readers:
            t.start()
        assert proc.stdin is not None
        try:  # a 1 MiB pipe: one wake-up of the reader per chunk instead of sixteen
            fcntl.fcntl(proc.stdin.fileno(), F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        feed_error: Optional[BaseException] = None
        try:
            for chunk in chunks:
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # the command stopped reading; its exit code and stderr say why
        except BaseException as exc:  # a bad archive or checksum: stop the command, re-raise
            feed_error = exc
            _kill_group(proc)
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = 124
        except BaseException:
            _kill_group(proc)
            raise
        for t in readers:
            t.join()
        if feed_error is not None:
            raise feed_error
        return Result(command_text(cmd), rc, _decode(b"".join(out)), _decode(b"".join(err)))

    def read(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def write(self, path: str, data: bytes, mode: int = 0o600) -> None:
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def put(self, src: Union[str, BinaryIO], dst: str, mode: int = 0o644) -> None:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        if isinstance(src, str):
            shutil.copyfile(src, dst)
        else:
            with open(dst, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        os.chmod(dst, mode)

    def remove(self, path: str, recursive: bool = False) -> None:
        if recursive and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=False)
        elif os.path.lexists(path):
            os.unlink(path)

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(path, mode=mode, exist_ok=True)
