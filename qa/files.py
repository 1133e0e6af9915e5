"""Writing files so that a reader never sees half of one: write a temporary name, then rename.

`atomic_path(dest)` gives a temporary path beside `dest` (same folder, so the rename is atomic on
one file system); whatever the caller creates there, a file or a folder, replaces `dest` with
`os.replace` when the block ends without an error, and is removed when it raises. `write_atomic`
is the one-call form for bytes or text. Every file the engine writes to disk (model caches, index
builds, documents) goes through these two.

`exclusive_lock(path)` serialises processes that build the same thing (a model conversion).

Left out: fsync (a power loss may lose the newest file, never expose a half-written one) and
replacing a non-empty folder (`os.replace` refuses; move the old one aside first).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

TEMP_PREFIX = ".tmp-"  # temporary names start with this; `remove_leftovers` clears them


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temporary path beside `dest`; what is written there replaces `dest` on success.

    Creates `dest`'s folder. On an error the temporary file or folder is deleted and `dest` is
    left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{TEMP_PREFIX}{dest.name}.{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_atomic(dest: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write `data` (text in `encoding`, or bytes) to `dest` atomically; returns `dest` as a Path."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(dest) as tmp:
        tmp.write_bytes(payload)
    return Path(dest)


def remove_leftovers(folder: str | os.PathLike[str], name: str) -> None:
    """Delete temporary files or folders for `name` in `folder` left by a killed process."""
    for stale in Path(folder).glob(f"{TEMP_PREFIX}{name}.*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on the file `path` (no-op where fcntl is unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
