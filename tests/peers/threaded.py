"""What the loopback HTTP peers share: an http.server served from a daemon thread, stopped cleanly."""

from __future__ import annotations

import threading
from socketserver import BaseServer
from typing import Any, Self


class ServedInThread:
    """A peer whose ``start()`` builds its server and hands it to ``_serve``; ``stop()`` and the context manager
    come from here."""

    port: int
    _server: Any = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _serve(self, server: BaseServer) -> Self:
        self._server = server
        self.port = server.server_address[1]  # type: ignore[index]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
