"""smsd's spool directories on disk, for the smstools channel: listing, locating a file along
its way (outgoing, checked, sent or failed), writing atomically, archiving, setting aside.

Every method is blocking file I/O; the channel calls them on a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

#: The directories, in the order smsd moves an outgoing file through them.
FLOW = ("outgoing", "checked", "sent", "failed")
KINDS = (*FLOW, "incoming", "report")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    mtime: float  # seconds since the epoch
    size: int


class SpoolError(OSError):
    pass


def _regular(path: Path) -> bool:
    """A regular file, not a symbolic link to one."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _ignored(name: str, names: set[str]) -> bool:
    """Names that are not spool files (yet): hidden and temporary files, locks, and files smsd
    holds a lock on (it copies a file into place under ``<name>.LOCK``)."""
    return (
        name.startswith(".")
        or name.endswith((".LOCK", "-concatenated"))
        or name.startswith(("LOCKED", "smsd_script"))
        or f"{name}.LOCK" in names
    )


class Spool:
    def __init__(
        self,
        dirs: dict[str, Path | None],
        *,
        file_mode: int = 0o660,
        archive: Path | None = None,
        rejected: Path | None = None,
    ) -> None:
        self.dirs = dirs
        self.file_mode = file_mode
        self.archive = archive
        self.rejected = rejected

    def path(self, kind: str, name: str) -> Path:
        directory = self.dirs[kind]
        if directory is None:
            raise SpoolError(f"no {kind} directory is configured")
        return directory / name

    def problems(self) -> dict[str, str]:
        """What is wrong with each directory that cannot be used, by kind."""
        found: dict[str, str] = {}
        for kind, directory in self.dirs.items():
            if directory is None:
                continue
            if not directory.is_dir():
                found[kind] = f"{directory} is not a directory"
            elif kind == "outgoing" and not os.access(directory, os.W_OK | os.X_OK):
                found[kind] = f"{directory} is not writable"
            elif not os.access(directory, os.R_OK | os.X_OK):
                found[kind] = f"{directory} is not readable"
        return found

    def listing(self, kind: str) -> list[Entry]:
        """The spool files in directory ``kind``, oldest first; empty when it cannot be read."""
        directory = self.dirs.get(kind)
        if directory is None:
            return []
        try:
            with os.scandir(directory) as scan:
                found = [entry for entry in scan if entry.is_file(follow_symlinks=False)]
        except OSError:
            return []
        names = {entry.name for entry in found}
        entries = []
        for entry in found:
            if _ignored(entry.name, names):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # moved on meanwhile
            entries.append(Entry(entry.name, stat.st_mtime, stat.st_size))
        entries.sort(key=lambda e: (e.mtime, e.name))
        return entries

    def where(self, name: str) -> str | None:
        """The directory an outgoing file is in now. Looked for in the order smsd moves files
        (it copies, then removes the original), so a file on its way is never missed."""
        for kind in FLOW:
            directory = self.dirs.get(kind)
            if directory is not None and _regular(directory / name):
                return kind
        return None

    def read(self, kind: str, name: str) -> bytes:
        """A file's bytes; a symbolic link is not followed (OSError)."""
        fd = os.open(self.path(kind, name), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def mtime(self, kind: str, name: str) -> float | None:
        try:
            return self.path(kind, name).lstat().st_mtime
        except OSError:
            return None

    def write(self, name: str, content: bytes) -> None:
        """Put ``name`` into outgoing whole: written under a hidden name, flushed to disk, then
        renamed (smsd skips hidden files and never sees a half-written one)."""
        final = self.path("outgoing", name)
        temporary = final.with_name(f".{name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, self.file_mode)  # the umask may have taken bits away
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def withdraw(self, name: str) -> bool:
        """Take ``name`` back out of outgoing before smsd takes it. False when smsd has it:
        gone from outgoing, or being copied into checked (smsd copies under a lock, then
        removes the original)."""
        source = self.path("outgoing", name)
        hidden = source.with_name(f".withdrawn-{name}")
        try:
            os.rename(source, hidden)
        except FileNotFoundError:
            return False
        checked = self.dirs.get("checked")
        taken = checked is not None and (
            _regular(checked / name) or (checked / f"{name}.LOCK").exists()
        )
        with contextlib.suppress(FileNotFoundError):
            hidden.unlink()
        return not taken

    def tidy(self, kind: str, name: str) -> None:
        """Done with a file: move it to the archive, or remove it."""
        source = self.path(kind, name)
        if self.archive is None:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
            return
        self._move(source, self.archive / kind, name)

    def reject(self, kind: str, name: str, reason: str) -> Path:
        """Set an unusable file aside, with the reason beside it: into the ``rejected``
        directory, or renamed to a hidden ``.rejected-<name>`` where it is."""
        source = self.path(kind, name)
        if self.rejected is not None:
            target = self._move(source, self.rejected / kind, name)
        else:
            target = source.with_name(f".rejected-{name}")
            os.replace(source, target)
        with contextlib.suppress(OSError):
            target.with_name(f"{target.name}.reason").write_text(reason + "\n")
        return target

    def _move(self, source: Path, directory: Path, name: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        if target.exists():  # smsd reuses names over time: keep both
            target = directory / f"{name}.{time.time_ns()}"
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # another file system: copy, then remove
                raise
            target.write_bytes(source.read_bytes())
            source.unlink()
        return target
