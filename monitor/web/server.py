"""Serving the web app from a thread (the demo, the browser tests) or in the foreground
(``monitor web``)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from monitor.app import App
from monitor.web.app import create_app


def uvicorn_config(app: App, host: str, port: int) -> uvicorn.Config:
    proxies = app.config.web_proxies
    return uvicorn.Config(
        create_app(app),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # URLs name cases and hits: not written to a log
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
    )


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class Background:
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_background(app: App, host: str = "127.0.0.1", port: int = 0) -> Background:
    """Start the app on host:port (0: any free port) and return once it answers."""
    if port == 0 or not port_is_free(host, port):
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, name="monitor-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the web app did not start on {host}:{port}")
        time.sleep(0.05)
    return Background(server, thread, f"http://{host}:{port}")
