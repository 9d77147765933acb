"""What every command shares: the exit-code table, the parser factory (shared options declared
once) and the error guard.

Kept import-cheap (standard library, :mod:`relucompile.errors` and :mod:`relucompile.limits` only): ``relucompile --help``
and every subcommand start from here, and each subcommand imports its own work when it runs.

Example:
    >>> p = make_parser("demo", "A demo command.", exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR))
    >>> add_domain_options(p)
    >>> p.parse_args(["--box", "-1", "1"]).box
    [-1.0, 1.0]
    >>> guarded(lambda argv: int(argv[0]))(["3"]), int(ExitCode.CERTIFY_FAILED)
    (3, 3)
"""
from __future__ import annotations

import argparse
import contextlib
import enum
import functools
import os
import re
import sys
import textwrap
import time
import traceback
from typing import Callable, Iterator

from relucompile.errors import UserError
from relucompile.limits import memory_budget, process_age, time_budget

PROG = "relucompile"


class ExitCode(enum.IntEnum):
    """The exit codes of every command, in one place (``relucompile --help`` lists them)."""

    OK = 0                #: success; ``verify``: the property holds; ``certify``: certified
    INTERNAL_ERROR = 1    #: a bug: one line on stderr (RELUCOMPILE_DEBUG=1 prints the traceback)
    USAGE_ERROR = 2       #: bad options or input (missing file, bad model, malformed VNN-LIB, ...)
    CERTIFY_FAILED = 3    #: ``certify`` or ``--certify``: a check failed; nothing written
    VIOLATED = 10         #: ``verify``: a counterexample was found
    UNKNOWN = 20          #: ``verify``/``bounds``: the timeout ran out
    INTERRUPTED = 130     #: Ctrl-C (128 + SIGINT, as the shell reports it)
    BROKEN_PIPE = 141     #: the reader of stdout went away (128 + SIGPIPE, as the shell reports it)
    TERMINATED = 143      #: SIGTERM or SIGHUP (128 + SIGTERM); no output written


EXIT_CODE_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL_ERROR: "internal error (a bug)",
    ExitCode.USAGE_ERROR: "usage or input error",
    ExitCode.CERTIFY_FAILED: "certification failed",
    ExitCode.VIOLATED: "violated",
    ExitCode.UNKNOWN: "unknown (timeout)",
}


def exit_codes_text(*codes: ExitCode, **meanings: str) -> str:
    """The ``exit codes:`` line of a help text, from the table (``meanings``: per-command wording
    by code name, e.g. ``OK="holds"``).

    Example:
        >>> exit_codes_text(ExitCode.OK, ExitCode.VIOLATED, OK="holds")
        'exit codes: 0 holds, 10 violated'
    """
    parts = [f"{int(code)} {meanings.get(code.name, EXIT_CODE_MEANINGS[code])}" for code in codes]
    return textwrap.fill("exit codes: " + ", ".join(parts), width=100, break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``PROG: error: MESSAGE (see PROG --help)``, exit 2, and
    negative numbers in scientific notation taken as values (``--box -1e3 1e3``), not options."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser(name: str | None, description: str, epilog: str) -> Parser:
    """The parser of ``relucompile`` (``name`` None) or of ``relucompile NAME``: examples and
    notes in ``epilog`` keep their line breaks.

    Example:
        >>> make_parser("verify", "Decide a property.", "").prog
        'relucompile verify'
    """
    return Parser(prog=f"{PROG} {name}" if name else PROG, description=description, epilog=epilog,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


# -- options shared by several commands, declared once --------------------------------------------

BOX_HELP = "domain [LO, HI]^d, the same bounds for every input, e.g. --box -1 1"
DOMAIN_FILE_HELP = ('JSON domain: {"lower": [...], "upper": [...]} for a box or {"G": [[...]], "g": [...]} '
                    "for the polytope G x <= g, e.g. --domain box.json")


def add_model_argument(p: argparse.ArgumentParser, help: str = "the ONNX model (piecewise-linear ops only), "
                                                                "e.g. model.onnx") -> None:
    """The positional ``model``.

    Example:
        >>> p = make_parser("demo", "", ""); add_model_argument(p); p.parse_args(["m.onnx"]).model
        'm.onnx'
    """
    p.add_argument("model", help=help)


def add_domain_options(p: argparse.ArgumentParser, *, default_note: str = "default: all of R^d",
                       required: bool = False, vnnlib_help: str | None = None) -> None:
    """``--box LO HI | --domain FILE`` (and ``--vnnlib PROP`` when ``vnnlib_help`` is given), one of
    them at most (exactly one when ``required``)."""
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"),
                       help=BOX_HELP + (f" ({default_note})" if default_note else ""))
    group.add_argument("--domain", metavar="FILE", help=DOMAIN_FILE_HELP)
    if vnnlib_help:
        group.add_argument("--vnnlib", metavar="PROP.vnnlib", help=vnnlib_help)


def add_limit_options(p: argparse.ArgumentParser, *, max_regions: int | None = None,
                      time_limit: float | None = None, max_regions_help: str | None = None,
                      time_limit_help: str | None = None) -> None:
    """``--max-regions N``, ``--time-limit S`` and ``--max-memory MB`` (stop with an error past
    them; the time limit counts from the command's start, loading included).

    Example:
        >>> p = make_parser("demo", "", ""); add_limit_options(p, max_regions=5)
        >>> args = p.parse_args(["--time-limit", "2"]); args.max_regions, args.time_limit
        (5, 2.0)
    """
    p.add_argument("--max-regions", type=int, default=max_regions, metavar="N",
                   help=max_regions_help or "stop with an error after N cells"
                   + (f" (default {max_regions})" if max_regions else "") + ", e.g. --max-regions 100000")
    p.add_argument("--time-limit", type=float, default=time_limit, metavar="S",
                   help=time_limit_help or "stop with an error after S seconds, counted from the start "
                   "(loading, parsing, enumeration and every LP)"
                   + (f" (default {time_limit:g})" if time_limit else "") + ", e.g. --time-limit 600")
    p.add_argument("--max-memory", type=float, default=None, metavar="MB",
                   help="stop with an error before the process grows past MB MiB (default: 3/4 of the "
                        "machine's memory, at most 8192), e.g. --max-memory 16000")


def check_limits(args: argparse.Namespace) -> None:
    """``--max-regions`` at least 1, ``--time-limit`` positive.

    Example:
        >>> check_limits(argparse.Namespace(max_regions=0, time_limit=None))
        Traceback (most recent call last):
        relucompile.errors.UserError: --max-regions must be at least 1
    """
    if args.max_regions is not None and args.max_regions < 1:
        raise UserError("--max-regions must be at least 1")
    if args.time_limit is not None and not 0 < args.time_limit < float("inf"):
        raise UserError(f"--time-limit must be a positive number of seconds, got {args.time_limit!r}")
    max_memory = getattr(args, "max_memory", None)
    if max_memory is not None and not 0 < max_memory < float("inf"):
        raise UserError(f"--max-memory must be a positive number of MiB, got {max_memory!r}")


#: ``time.perf_counter()`` when the running command started (set by ``main``: the process start
#: for the console script, the call for an in-process ``main([...])``); None: when its limits open
COMMAND_CLOCK: list[float] = []


@contextlib.contextmanager
def command_clock(from_process_start: bool) -> Iterator[None]:
    """Within the block, :func:`run_limits` counts from now, or from the process start.

    Example:
        >>> with command_clock(False):
        ...     len(COMMAND_CLOCK)
        1
    """
    COMMAND_CLOCK.append(time.perf_counter() - (process_age() if from_process_start else 0.0))
    try:
        yield
    finally:
        COMMAND_CLOCK.pop()


@contextlib.contextmanager
def run_limits(args: argparse.Namespace, option: str = "--time-limit") -> Iterator[None]:
    """The command's time budget (``args.time_limit`` seconds counted from the command's start,
    see :func:`command_clock`, so loading and parsing count) and memory budget
    (``args.max_memory``) around its work.

    Example:
        >>> with run_limits(argparse.Namespace(time_limit=None, max_memory=None)):
        ...     pass
    """
    seconds = getattr(args, option.lstrip("-").replace("-", "_"), None)
    spent = time.perf_counter() - COMMAND_CLOCK[-1] if COMMAND_CLOCK else 0.0
    with time_budget(seconds, option, already_spent=spent), memory_budget(getattr(args, "max_memory", None)):
        yield


def add_quiet_option(p: argparse.ArgumentParser, help: str = "no progress bar and no summary") -> None:
    """``-q/--quiet``.

    Example:
        >>> p = make_parser("demo", "", ""); add_quiet_option(p); p.parse_args(["-q"]).quiet
        True
    """
    p.add_argument("-q", "--quiet", action="store_true", help=help)


def add_json_option(p: argparse.ArgumentParser, help: str = "print a JSON object instead of text, e.g. --json") -> None:
    """``--json``.

    Example:
        >>> p = make_parser("demo", "", ""); add_json_option(p); p.parse_args([]).json
        False
    """
    p.add_argument("--json", action="store_true", help=help)


def add_timeout_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--timeout S`` (checked by :func:`check_timeout`).

    Example:
        >>> p = make_parser("demo", "", ""); add_timeout_option(p, "give up after S seconds")
        >>> p.parse_args(["--timeout", "1.5"]).timeout
        1.5
    """
    p.add_argument("--timeout", type=float, metavar="S", help=help)


def check_timeout(args: argparse.Namespace) -> None:
    """``--timeout`` positive when given.

    Example:
        >>> check_timeout(argparse.Namespace(timeout=-1))
        Traceback (most recent call last):
        relucompile.errors.UserError: --timeout must be a positive number of seconds
    """
    if args.timeout is not None and not args.timeout > 0:
        raise UserError("--timeout must be a positive number of seconds")


# -- the error guard -----------------------------------------------------------------------------

def guarded(command: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """``command`` with every outcome turned into an exit code of :class:`ExitCode`:

    * a :class:`UserError` (bad option, file or model): one line ``relucompile: error: ...``, 2;
    * argparse's exit (``--help``: 0; a usage error: 2, already printed);
    * Ctrl-C: one line, 130; the reader of stdout gone (``| head``): no message, 141;
    * anything else is a bug: one line naming it, 1 (``RELUCOMPILE_DEBUG=1`` adds the traceback).

    Example:
        >>> import contextlib, io
        >>> def bad_input(argv):
        ...     raise UserError(f"{argv[0]}: no such file")
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     code = guarded(bad_input)(["m.onnx"])
        >>> code, err.getvalue()
        (2, 'relucompile: error: m.onnx: no such file\\n')
    """
    @functools.wraps(command)
    def run(argv: list[str]) -> int:
        return int(_outcome(command, argv))
    return run


#: options whose value is a file the command writes (every other existing file named is an input)
OUTPUT_OPTIONS = ("-o", "--output", "--regions", "--result-file", "--table", "--plot")


def split_files(argv: list[str]) -> tuple[list[str], list[str]]:
    """(input files, output files) named on a command line: outputs are the values of
    :data:`OUTPUT_OPTIONS`; inputs every other argument naming an existing file (but the regions
    file that ``--update`` rewrites in place).

    Example:
        >>> import os, tempfile
        >>> model = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False).name
        >>> inputs, outputs = split_files([model, "-o", "s.onnx", "--regions=r.json", "--box", "-1", "1"])
        >>> inputs == [model], outputs
        (True, ['s.onnx', 'r.json'])
    """
    inputs, outputs = [], []
    updating = "--update" in argv   # ``certify --update`` rewrites its regions file and --onnx model in place
    previous = ""
    for arg in argv:
        if previous in OUTPUT_OPTIONS:
            outputs.append(arg)
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in OUTPUT_OPTIONS:
            outputs.append(arg.split("=", 1)[1])
        elif arg not in OUTPUT_OPTIONS and os.path.isfile(arg) \
                and not (updating and (arg.endswith(".json") or previous == "--onnx")):
            inputs.append(arg)
        previous = arg
    return inputs, outputs


def _outcome(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """What ``command`` ends with, as an exit code (see :func:`guarded`).  Every file the command
    writes is staged and committed at its end (:class:`~relucompile.backends.files.RunOutputs`):
    an output naming an input, a special file or another output is refused before any work, and a
    run that fails or is interrupted (Ctrl-C, SIGTERM, SIGHUP) leaves no new or changed file."""
    from relucompile.backends.files import RunOutputs, Terminated, signals_raise
    try:
        inputs, outputs = split_files(argv)
        with signals_raise(), RunOutputs(inputs, outputs):
            return int(command(argv))
    except Terminated as exc:
        print(f"{PROG}: terminated ({exc}); no output written", file=sys.stderr)
        return ExitCode.TERMINATED
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else ExitCode.USAGE_ERROR)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except MemoryError as exc:   # a resource limit, not a bug: the model or domain is too large here
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        print(f"{PROG}: error: not enough memory for this model and domain ({detail}); use a smaller domain "
              "(--box, --domain), fewer free inputs, or a machine with more memory", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    except Exception as exc:  # a bug: say so in one line, keep the traceback available
        if os.environ.get("RELUCOMPILE_DEBUG"):
            traceback.print_exc()
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (a bug; rerun with "
              "RELUCOMPILE_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return ExitCode.INTERNAL_ERROR


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
