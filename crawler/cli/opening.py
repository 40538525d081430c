"""Opening the sink without making Ctrl-C wait for it, and without losing it to a signal.

A sink can take long to open (a PostgreSQL server that accepts the connection and never answers
holds it for the connect timeout, 10 s), and it can create something on the way (a file sink's
temporary file) that only its `aclose` removes. So the sink opens in a thread of its own while
the main thread waits: a signal interrupts the waiting, never the opening. The sink is kept in
`SinkOpening.sink` the moment it exists, under a lock, and whoever learns last that it is not
wanted closes it: `abandon` (the main thread, on a signal) if the sink is there, else the thread
once it has it.

The thread starts with SIGINT and SIGTERM blocked, so both go to the main thread, where Python
runs their handlers. It is a daemon, so an abandoned open does not hold the exit; `abandon`
gives it GRACE_SECONDS to finish, time enough for a file sink to open and be closed again.
The main thread waits on an event the thread sets once it is done, never on `Thread.join`:
before Python 3.13, a join that a signal interrupts marks the thread as ended while it still
runs (CPython issue 90882), so `abandon` would not wait for it, and the process would exit
before the thread closed the sink (a JSON lines sink's temporary file left behind).
(A sink that opens in a `concurrent.futures` pool of its own still holds the exit until its
work ends: the interpreter joins those pools' threads when it exits.)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import anyio

from crawler.config import SinkOptions
from crawler.sinks import Sink, open_sink

# How long a signal waits for a sink still opening, so that it is closed before the process
# exits: a file sink opens in milliseconds; a server that does not answer is not waited for.
GRACE_SECONDS = 2.0


class SinkOpening:
    """One sink to open: `open` it, and `abandon` it if a signal comes at any point after."""

    def __init__(self) -> None:
        self.sink: Sink | None = None
        self._error: Exception | None = None
        self._abandoned = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()  # the thread kept the sink, or its error, or closed it

    def open(self, uri: str, options: SinkOptions) -> Sink:
        """`open_sink(uri, options)`, or its error, raised here; a signal interrupts the wait."""
        thread = threading.Thread(
            target=self._open, args=(uri, options), name="open-sink", daemon=True
        )
        with signals_held():  # the thread inherits the mask; `abandon` finds the thread
            thread.start()
            self._thread = thread
        self._done.wait()  # not thread.join(): a signal would mark the thread ended (above)
        if self._error is not None:
            raise self._error
        assert self.sink is not None  # the thread kept either a sink or an error
        return self.sink

    def abandon(self) -> None:
        """The sink is not wanted (a signal came): close it now if it is open, else let the
        thread close it when it is, giving it GRACE_SECONDS to get there before the exit.
        Closing an already closed sink does nothing."""
        with self._lock:
            self._abandoned = True
            sink = self.sink
        if sink is not None:
            close_quietly(sink)
        elif self._thread is not None:
            self._done.wait(GRACE_SECONDS)

    def _open(self, uri: str, options: SinkOptions) -> None:
        try:
            self._open_or_close(uri, options)
        finally:
            self._done.set()  # whatever happened, so that `open` never waits forever

    def _open_or_close(self, uri: str, options: SinkOptions) -> None:
        try:
            sink = open_sink(uri, options)
        except Exception as exc:
            self._error = exc
            return
        with self._lock:
            if not self._abandoned:
                self.sink = sink
                return
        close_quietly(sink)


def close_quietly(sink: Sink) -> None:
    """Close a sink on the way out of an interrupted run: it may already be closed, as far as
    it got, and the interruption is what the user is told about."""
    with contextlib.suppress(OSError):
        anyio.run(sink.aclose)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (and are delivered on exit) while the block runs."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
