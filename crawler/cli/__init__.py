"""The command line: parse, run one command from the table, turn what went wrong into one line
and an exit code.

    main(argv)
      -> parser.parse        the parser, built from what each command registered (commands.py)
      -> COMMANDS[name].run  the command, which imports what it needs only now
      -> exit code           0 complete, 1 completed with errors (or failed), 2 bad usage or
                             config, 3 credentials missing or rejected, 4 a compliance finding
                             at or above --fail-on, 130 interrupted

A closed stdout (`ecr-crawler regions | head -1`) is a normal end: exit 0, quietly. Notes added
to an error on its way here (`add_note`: where a failed scan kept its records) end its line.
"""

from __future__ import annotations

import os
import select
import signal
import sys
from collections.abc import Sequence

from crawler.cli import commands  # noqa: F401 - the commands register themselves
from crawler.cli.parser import COMMANDS, EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, parse
from crawler.errors import CrawlerError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    # Until the scan's own signal receiver runs, SIGTERM stops us as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code = COMMANDS[args.command].run(args)
        # Here, where a closed pipe can still be caught, rather than at the interpreter's exit;
        # no stdout at all (`>&-`) is None.
        if sys.stdout is not None:
            sys.stdout.flush()
    except KeyboardInterrupt as exc:
        print(_line("ecr-crawler: interrupted", exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        cause = _cause(exc)
        if _from_broken_pipe(cause) and _stdout_closed():
            return _reader_gone()
        if getattr(args, "log_level", None) == "debug":
            raise
        return _report(cause, exc)
    return code


def _cause(exc: Exception) -> Exception:
    """The error a person needs to see: task groups wrap it in exception groups."""
    while isinstance(exc, ExceptionGroup):
        ours = [e for e in exc.exceptions if isinstance(e, CrawlerError | ExceptionGroup)]
        exc = (ours or list(exc.exceptions))[0]
    return exc


def _report(exc: Exception, raised: Exception) -> int:
    """One line for the error `exc`, found in what was `raised`."""
    if isinstance(exc, CrawlerError):
        from crawler.log import Redactor

        print(_line(f"ecr-crawler: error: {Redactor().redact(str(exc))}", raised), file=sys.stderr)
        return exc.exit_code
    line = (
        f"ecr-crawler: internal error: {type(exc).__name__}: {exc} "
        "(rerun with --log-level debug for the traceback)"
    )
    print(_line(line, raised), file=sys.stderr)
    return EXIT_ERRORS


def _line(text: str, raised: BaseException) -> str:
    """The report's line with what the command noted on the error on its way out (where a
    failed scan kept its records): one line still."""
    return "; ".join([text, *getattr(raised, "__notes__", ())])


def _from_broken_pipe(exc: BaseException) -> bool:
    """A write met a closed pipe, whether it surfaced as is (print) or inside the error of the
    writer (the JSON lines sink reports it as a SinkError)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        if isinstance(error, BrokenPipeError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _stdout_closed() -> bool:
    """Whether the pipe was stdout's: a broken database connection is a failure, not an end."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _reader_gone() -> int:
    """Whoever reads stdout stopped (`| head`): the output was wanted no further. What is still
    buffered, and the flush at exit, go to /dev/null instead of failing again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
