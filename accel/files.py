"""Output files: checked before the work, written atomically, never replacing what is not a file.

Every report, plot, cache entry and generated file goes through here:

- :func:`check_output_file` / :func:`check_output_dir` run before a command starts its work, so
  a path that cannot be written is one error line, not a traceback after a long simulation. A
  FIFO must have its reader by then; the check keeps it open until the file is written.
- :func:`write_atomic` writes a regular file through a temporary file and a rename, so an
  interrupted run never leaves a half-written file. A symlink is followed (its target is
  replaced, the link stays). An existing device or FIFO (``/dev/null``, a named pipe), and an
  open file named through ``/proc/PID/fd`` (``/dev/stdout``), are written into, never replaced.
- Every ``OSError`` becomes an :class:`OutputError` naming the path and the reason.
- :func:`replaced_dir` builds a set of files in a fresh directory that then takes the place of
  the target directory in one step, so readers see the old set or the new one, never a mix.
- :func:`guarded_stdout` does the same for standard output (a full disk, ``/dev/full``); a
  reader that went away (``sim list | head -1``) is :class:`StdoutClosed`.

Also strict JSON (no ``Infinity``): :func:`strict_json`.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workloads.errors import UserError


class OutputError(UserError):
    """An output path that cannot be written."""


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _check_writable_dir(directory: Path, path: Path, what: str) -> None:
    """``directory`` (the nearest existing ancestor of ``path``) must be a directory we can create files in."""
    if not directory.is_dir():
        raise OutputError(f"cannot write {what} {path}: {directory} is not a directory; choose another path")
    try:  # permission bits do not stop root, and /proc or a read-only mount refuse only on write
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"cannot write {what} {path}: cannot create files in {directory} ({_reason(err)}); "
                          "choose another path") from None  # fmt: skip


# Devices and FIFOs opened by check_output_file, kept open until written: a FIFO's reader must be
# there before the work, and closing the probe would end that reader's input.
_opened: dict[Path, int] = {}


def check_output_file(path: str | Path, what: str = "output") -> None:
    """Raise :class:`OutputError` unless a file can be written at ``path`` (nothing is created)."""
    if opened := _open_file(path):
        _check_open_file(path, *opened, what)
        return
    path = Path(os.path.realpath(path))
    if path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it is a directory; give a file path")
    if path.exists() and not path.is_file():  # a device or FIFO: written into
        if path not in _opened:
            try:
                _opened[path] = _open_nonblocking(path)
            except OSError as err:
                raise OutputError(f"cannot write {what} {path}: {_reason(err)}; choose another path") from None
        return
    _check_writable_dir(_nearest_existing(path.parent), path, what)


def check_output_dir(path: str | Path, what: str = "output directory", files: Iterable[str] = ()) -> None:
    """Raise :class:`OutputError` unless ``path`` is, or can be created as, a writable directory in
    which each of ``files`` can be written."""
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it exists and is not a directory; choose another path")
    _check_writable_dir(_nearest_existing(path), path, what)
    for name in files:
        check_output_file(path / name, what)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path``: atomically for a regular file, into a device or FIFO as it is."""
    payload = data.encode() if isinstance(data, str) else data
    try:
        if opened := _open_file(path):
            _write_open_file(Path(path), *opened, payload)
            return
        target = Path(os.path.realpath(path))
        if target.exists() and not stat.S_ISREG(target.stat().st_mode):
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            _write_into(target, payload)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, payload)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None


_FD_DIR = re.compile(r"/proc/(\d+)/fd")


def _open_file(path: str | Path) -> tuple[int, int] | None:
    """``(pid, fd)`` when ``path`` leads through ``/proc/PID/fd/FD`` (``/dev/stdout``, ``/dev/fd/3``).

    Resolving such a link names the file behind it (``pipe:[...]`` for a pipe), which must be
    written through the descriptor, not replaced.
    """
    given, path = path, os.path.abspath(path)
    try:
        for _ in range(40):  # as many links as the kernel follows
            directory = os.path.realpath(os.path.dirname(path))
            match = _FD_DIR.fullmatch(directory)
            if match and os.path.basename(path).isdigit():
                return int(match[1]), int(os.path.basename(path))
            if not os.path.islink(path):
                return None
            path = os.path.join(directory, os.readlink(path))
    except OSError as err:  # another process's descriptors
        raise OutputError(f"cannot write {given}: {_reason(err)}") from None
    return None


def _check_open_file(path: str | Path, pid: int, fd: int, what: str) -> None:
    """Raise :class:`OutputError` unless descriptor ``fd`` of process ``pid`` is open for writing."""
    try:
        if pid == os.getpid():
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                raise OSError(errno.EBADF, "open for reading only")
        else:  # another writer holds it open, so closing this one ends no reader's input
            os.close(_open_nonblocking(Path(path)))
    except OSError as err:
        raise OutputError(f"cannot write {what} {path}: {_reason(err)}; choose another path") from None


def _write_open_file(path: Path, pid: int, fd: int, payload: bytes) -> None:
    if pid != os.getpid():
        _write_into(path, payload)
        return
    # Our own descriptor: write through it, so the file offset is shared with what else this
    # process prints there (a new open of /dev/stdout redirected to a file would write at 0).
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with os.fdopen(os.dup(fd), "wb") as f:
        f.write(payload)


def _open_nonblocking(target: Path) -> int:
    # O_NONBLOCK: a FIFO nobody reads is an error (ENXIO), not a hang.
    try:
        return os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ENXIO:
            raise OSError(err.errno, "no process is reading this FIFO") from None
        raise


def _write_into(target: Path, payload: bytes) -> None:
    fd = _opened.pop(target, None)
    if fd is None:
        fd = _open_nonblocking(target)
    os.set_blocking(fd, True)  # a reader slower than this writer is waited for
    with os.fdopen(fd, "wb") as f:
        f.write(payload)


def _replace(target: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def replaced_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty directory next to ``path``; when the block succeeds it replaces ``path`` whole.

    A symlink at ``path`` is followed (the directory it names is replaced, the link stays). The
    old directory and all it held are deleted; on an error or Ctrl-C ``path`` is left untouched.
    """
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    try:
        yield staging
        try:
            mode = stat.S_IMODE(target.stat().st_mode) if target.is_dir() else 0o777 & ~_umask()
            os.chmod(staging, mode)  # mkdtemp made it private
            _swap_dirs(staging, target)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the new set's staging, or the old set after a swap


def _swap_dirs(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``; the old ``target`` (if any) ends up at ``new``."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    if sys.platform.startswith("linux"):  # renameat2(RENAME_EXCHANGE): one atomic step
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        if libc.renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(target), rename_exchange) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: the file system cannot exchange
            raise OSError(code, os.strerror(code), str(target))
    # Elsewhere: two renames; in between, target is briefly missing but never mixed.
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.rename(target, old / "dir")
    os.rename(new, target)
    os.rename(old / "dir", new)
    old.rmdir()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


class StdoutClosed(Exception):
    """The reader of standard output went away (``sim list | head -1``).

    Not a BrokenPipeError: rich catches that one and exits with status 1.
    """


class _StdoutFile(io.FileIO):
    """File descriptor 1: a failed write names standard output; after a failure, output is dropped.

    Dropping keeps the interpreter's last flush (and any later print) from failing again.
    """

    failed = False

    def write(self, data) -> int:
        if self.failed:
            return len(data)
        try:
            return super().write(data)
        except OSError as err:
            self.failed = True
            if isinstance(err, BrokenPipeError):
                raise StdoutClosed from None
            raise OutputError(f"cannot write standard output: {_reason(err)}") from None


@contextmanager
def guarded_stdout() -> Iterator[None]:
    """Within the block, ``sys.stdout`` raises :class:`OutputError` when a write fails, and
    :class:`StdoutClosed` when its reader went away. A stdout without a file descriptor (a test's
    capture) is left as it is.
    """
    original = sys.stdout
    try:
        fd = original.fileno()
    except (AttributeError, ValueError):  # io.UnsupportedOperation is a ValueError
        yield
        return
    original.flush()
    raw = _StdoutFile(fd, "w", closefd=False)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=original.encoding, errors=original.errors,
        line_buffering=original.line_buffering, write_through=original.write_through,
    )  # fmt: skip
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
        finally:
            sys.stdout = original


def strict_json(data, **kwargs) -> str:
    """``json.dumps`` that writes infinite floats (an ideal DRAM channel) as the string ``"inf"``."""
    return json.dumps(_finite(data), allow_nan=False, **kwargs)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
