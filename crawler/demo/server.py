"""The emulator's lifecycle: a moto server on a free loopback port, patched where moto lacks
what the crawler reads, for as long as a `with` block runs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from crawler.errors import ConfigError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def run_emulator() -> Iterator[str]:
    """A moto server on a free loopback port, for as long as the block runs: its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ConfigError(
            "the demo needs the emulator: pip install 'ecr-crawler[demo]' (make demo does)"
        ) from None
    from crawler.demo.moto_patches import fill_moto_gaps

    # werkzeug logs every request of the emulator; those are not the scan's logs.
    logging.getLogger("werkzeug").disabled = True
    fill_moto_gaps()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
