"""Atomic output files: every result, figure and animation is written under a temporary name, then renamed.

:func:`atomic_path` yields a ``.part`` sibling of the final path (``.<name>.<pid>.<8 hex>.part``, hidden, in the same
directory so the rename cannot cross file systems), and renames it onto the final name with :func:`os.replace` only
when the block finishes without an exception; on any failure (including ``KeyboardInterrupt``) the ``.part`` file is
deleted. An interrupted run therefore never leaves a half-written file under the real name, and a previous file of
that name stays intact until the new one is complete.

A writer killed with SIGKILL cannot delete its ``.part`` file. The next :func:`atomic_path` into the same directory
removes such leftovers (:func:`remove_stale_parts`): a file is stale when its name matches the pattern above and
either its writer (the pid in the name) no longer runs on this machine, or it has not been modified for
:data:`STALE_AFTER_S` (10 minutes; covers a writer on another machine sharing the directory, and a pid that has been
reused). Nothing else is ever deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

#: A ``.part`` file untouched for this long [s] is stale whatever its pid.
STALE_AFTER_S = 600.0

#: ``.<final name>.<pid>.<8 hex digits>.part``
PART_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]+)\.(?P<token>[0-9a-f]{8})\.part$")


def part_path(path: str | os.PathLike) -> Path:
    """A fresh temporary sibling of ``path``: ``<dir>/.<name>.<pid>.<8 random hex digits>.part``."""
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot be told: keep the file
    return True


def remove_stale_parts(directory: str | os.PathLike, *, now: float | None = None) -> list[Path]:
    """Delete the stale ``.part`` files of killed writers in ``directory`` and return them.

    A file is removed only if its name matches :data:`PART_PATTERN` and its writer's pid is not alive or its
    modification time is more than :data:`STALE_AFTER_S` seconds before ``now`` [s since the epoch, default: the
    current time]. Files that vanish meanwhile or cannot be removed are skipped.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = PART_PATTERN.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
            if old or not _process_alive(int(match["pid"])):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Write ``path`` atomically: yield a temporary ``.part`` sibling to write to, rename it onto ``path`` at the end.

    Creates the parent directory and removes stale ``.part`` files there first (:func:`remove_stale_parts`). The
    temporary name does not end in the final suffix, so writers that infer the format from the name (matplotlib,
    PIL) must be given it explicitly. The file is created by the writer with the process umask (not ``0600`` as
    :func:`tempfile.mkstemp` would), so results stay readable by the group.

    Examples
    --------
    >>> with atomic_path("out/figure.png") as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path.parent)
    tmp = part_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
