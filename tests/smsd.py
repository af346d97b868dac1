"""Debian's smsd (SMS Server Tools 3) as a test peer: a spool in a temporary directory and a
generated configuration whose one modem is ``device = @127.0.0.1:PORT``, a modem simulator
(in this process, or ``smsgate modem-sim``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import need_peer

SMSD = shutil.which("smsd") or "/usr/sbin/smsd"
SPOOLS = ("outgoing", "checked", "sent", "failed", "incoming", "report")


def need_smsd() -> None:
    need_peer(Path(SMSD).exists(), "smsd is not installed: apt-get install smstools")


@dataclass
class Smsd:
    """One smsd on its own spool; ``start`` and ``stop`` as often as a test likes."""

    root: Path
    modem_port: int
    report_dir: bool = True
    extra: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for spool in SPOOLS:
            (self.root / spool).mkdir(parents=True, exist_ok=True)

    def dir(self, kind: str) -> Path:
        return self.root / kind

    @property
    def config(self) -> Path:
        return self.root / "smsd.conf"

    @property
    def log(self) -> Path:
        return self.root / "smsd.log"

    def write_config(self) -> None:
        spools = [s for s in SPOOLS if s != "report" or self.report_dir]
        self.config.write_text(
            "devices = GSM1\n"
            f"logfile = {self.log}\nloglevel = 7\n"
            + "".join(f"{spool} = {self.root / spool}\n" for spool in spools)
            + f"infofile = {self.root}/smsd.working\npidfile = {self.root}/smsd.pid\n"
            "delaytime = 1\ndelaytime_mainprocess = 1\nreceive_before_send = no\n"
            "errorsleeptime = 1\nblocktime = 2\n" + self.extra + "\n[GSM1]\n"
            f"device = @127.0.0.1:{self.modem_port}\nincoming = yes\ncheck_memory_method = 1\n"
        )

    def start(self) -> Smsd:
        self.write_config()
        self.process = subprocess.Popen(
            [SMSD, "-c", str(self.config), "-t"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # smsd and its modem process: one group to signal
        )
        return self

    def stop(self) -> None:
        """A graceful stop: smsd finishes the message it is sending, all parts."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """At the end of a test: at once, smsd and its modem process."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def files(self, kind: str) -> list[Path]:
        return sorted(p for p in self.dir(kind).iterdir() if not p.name.startswith("."))

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Until nothing waits in outgoing or checked."""
        deadline = time.monotonic() + timeout
        while self.files("outgoing") or self.files("checked"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"smsd still busy:\n{self.log_tail()}")
            time.sleep(0.1)
