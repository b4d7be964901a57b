"""A progress report for long commands, on stderr: a bar redrawn in place on a terminal, else a line per 10 %.

No dependency. ``count`` is what the user cares about (rows); ``done`` out of
``total`` is what measures the way (bytes of the file), so the percentage and
the ETA stay right when items have different sizes.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(
        self,
        *,
        total: int,
        label: str = "",
        unit: str = "rows",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        min_interval: float = 0.2,
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.min_interval = min_interval
        self._started: float | None = None
        self._base_count = 0
        self._base_done = 0
        self._drawn = 0.0
        self._next_tenth = 1
        self._width = 0

    def update(self, *, count: int, done: int) -> None:
        """``count`` items and ``done`` of ``total`` so far; the first call sets where this run started."""
        now = time.monotonic()
        if self._started is None:
            self._started, self._base_count, self._base_done = now, count, done
            self._next_tenth = int(done * 10 // self.total) + 1
            return
        fraction = min(done / self.total, 1.0)
        if self.interactive:
            if now - self._drawn >= self.min_interval:
                self._drawn = now
                self._write("\r" + self.line(count=count, done=done, now=now), end="")
        elif fraction * 10 >= self._next_tenth:
            self._next_tenth = int(fraction * 10) + 1
            self._write(self.line(count=count, done=done, now=now))

    def line(self, *, count: int, done: int, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - (self._started or now), 1e-9)
        fraction = min(done / self.total, 1.0)
        rate = (count - self._base_count) / elapsed
        speed = (done - self._base_done) / elapsed
        eta = _duration((self.total - done) / speed) if speed > 0 and done < self.total else "-"
        head = f"{self.label}: " if self.label else ""
        if self.interactive:
            filled = int(fraction * WIDTH)
            bar = "[" + "#" * filled + "." * (WIDTH - filled) + "] "
        else:
            bar = ""
        return f"{head}{bar}{fraction:4.0%}  {count:,} {self.unit}  {rate:,.0f} {self.unit}/s  ETA {eta}"

    def finish(self) -> None:
        if self.interactive and self._drawn:
            self._write("")

    def _write(self, text: str, end: str = "\n") -> None:
        if self.interactive and end == "":
            pad = max(self._width - len(text), 0)
            self._width = len(text)
            text += " " * pad
        self.stream.write(text + end)
        self.stream.flush()
