"""Drive a command through a pseudo-terminal, as a person at a terminal would: rich sees a tty (so it animates its
progress bars) and a prompt reads the answers typed into it. Standard library only (``os.openpty``)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


def plain(raw: bytes) -> str:
    """What the bytes say without terminal control sequences (colours, cursor moves, line erases)."""
    return ANSI.sub("", raw.decode("utf-8", "replace"))


class Terminal:
    """A child process on the slave side of a pty of ``rows`` x ``cols``; everything it writes is kept in
    ``transcript`` (bytes, as the terminal received them)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, rows: int = 40, cols: int = 120):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.master, self.transcript, self.closed = master, b"", False

    def _read(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return b""
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its side (it exited)
            chunk = b""
        if not chunk:
            self.closed = True
        self.transcript += chunk
        return chunk

    def read_until(self, text: str, timeout_s: float) -> int:
        """Read until ``text`` (bytes, UTF-8) has been written; returns the offset just after it."""
        needle, deadline = text.encode(), time.monotonic() + timeout_s
        while needle not in self.transcript:
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r}; the terminal's last lines:\n"
                                     f"{plain(self.transcript)[-3000:]}")
            self._read(min(1.0, max(0.0, deadline - time.monotonic())))
        return self.transcript.index(needle) + len(needle)

    def read_for(self, seconds: float) -> bytes:
        """Whatever arrives in the next ``seconds`` (a live display redraws several times a second)."""
        start, deadline = len(self.transcript), time.monotonic() + seconds
        while not self.closed and (left := deadline - time.monotonic()) > 0:
            self._read(left)
        return self.transcript[start:]

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def wait(self, timeout_s: float) -> int:
        """Read to the end of the output and return the exit code."""
        deadline = time.monotonic() + timeout_s
        while not self.closed and time.monotonic() < deadline:
            # A process the child started may hold the pty open after the child exits: stop at its silence.
            if not self._read(0.5) and self.proc.poll() is not None:
                break
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        os.close(self.master)
