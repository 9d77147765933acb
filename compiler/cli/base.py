"""What every command shares: the exit-code table, the parser factory (shared options declared
once) and the error guard.

Kept import-cheap (standard library, :mod:`relucompile.errors` and :mod:`relucompile.limits` only): ``relucompile --help``
and every subcommand start from here, and each subcommand imports its own work when it runs.

Example:
    >>> p = make_parser("demo", "A demo command.", exit_codes_text(ExitCode.OK, ExitCode.USAGE_ERROR), shared=True)
    >>> p.parse_args(["m.onnx", "--box", "-1", "1"]).box
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


def make_parser(name: str | None, description: str, epilog: str, *, shared: bool = False,
                **shared_options) -> Parser:
    """The parser of ``relucompile`` (``name`` None) or of ``relucompile NAME``: examples and
    notes in ``epilog`` keep their line breaks.  ``shared``: the command takes a model (and a
    domain): the options every such command shares come first (:func:`add_shared_options`,
    with ``shared_options``).

    Example:
        >>> make_parser("verify", "Decide a property.", "").prog
        'relucompile verify'
    """
    p = Parser(prog=f"{PROG} {name}" if name else PROG, description=description, epilog=epilog,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    if shared:
        add_shared_options(p, **shared_options)
    return p


# -- options shared by several commands, declared once --------------------------------------------

BOX_HELP = "domain [LO, HI]^d, the same bounds for every input, e.g. --box -1 1"
DOMAIN_FILE_HELP = ('JSON domain: {"lower": [...], "upper": [...]} for a box or {"G": [[...]], "g": [...]} '
                    "for the polytope G x <= g, e.g. --domain box.json")
VNNLIB_HELP = "the input region of a VNN-LIB property (its box), e.g. --vnnlib prop_3.vnnlib"
#: the one cap on the cells of an enumeration, for every command that enumerates (compile, plot, report, ...)
DEFAULT_MAX_REGIONS = 1_000_000
#: the options that choose a domain, as the messages name them when none was given
DOMAIN_OPTIONS = "--box LO HI, --domain FILE or --vnnlib PROP"
QUIET_HELP = "no progress line and no summary line (results and errors are still printed)"


def add_model_argument(p: argparse.ArgumentParser, help: str = "the ONNX model (piecewise-linear ops only), "
                                                                "e.g. model.onnx") -> None:
    """The positional ``model``.

    Example:
        >>> p = make_parser("demo", "", ""); add_model_argument(p); p.parse_args(["m.onnx"]).model
        'm.onnx'
    """
    p.add_argument("model", help=help)


def add_shared_options(p: argparse.ArgumentParser, *, domain: bool = True, model_help: str | None = None,
                       domain_note: str = "default: all of R^d", vnnlib_help: str = VNNLIB_HELP) -> None:
    """The options of every command that takes a model and a domain, declared once (one group in
    ``--help``): the model and how to load it (``--trust-model-code``, ``--input-shape``), the
    domain (``--box | --domain | --vnnlib``, unless ``domain`` is False: ``verify`` reads it from
    its property), the limits (``--time-limit``, hidden alias ``--timeout``; ``--max-regions``),
    the names of inputs and outputs, and ``-q``.

    Example:
        >>> p = make_parser("demo", "", "", shared=True)
        >>> args = p.parse_args(["m.onnx", "--vnnlib", "p.vnnlib", "--timeout", "3", "-q"])
        >>> args.model, args.vnnlib, args.time_limit, args.max_regions, args.quiet
        ('m.onnx', 'p.vnnlib', 3.0, None, True)
    """
    group = p.add_argument_group("model, domain and limits (the same options for every command)")
    group.add_argument("model", help=model_help or "the source model (piecewise-linear ops only): ONNX, a "
                       "TorchScript file or a torch.export archive (.pt2; needs relucompile[torch]), e.g. model.onnx")
    group.add_argument("--trust-model-code", action="store_true",
                       help="load TorchScript files: torch.jit.load runs code from the file while it loads, so "
                            "pass this only for a file whose author you trust (ONNX and .pt2 never run code)")
    group.add_argument("--input-shape", metavar="DIMS",
                       help="input shape for a TorchScript file (or a .pt2 with free dimensions), e.g. "
                            "--input-shape 1,2,6,6; ONNX models fix their own shape")
    if domain:
        where = group.add_mutually_exclusive_group()
        where.add_argument("--box", nargs=2, type=float, metavar=("LO", "HI"),
                           help=BOX_HELP + (f" ({domain_note})" if domain_note else ""))
        where.add_argument("--domain", metavar="FILE", help=DOMAIN_FILE_HELP)
        where.add_argument("--vnnlib", metavar="PROP.vnnlib", help=vnnlib_help)
    group.add_argument("--time-limit", type=float, metavar="S",
                       help="stop with an error (verify, bounds: with 'unknown', exit 20) after S seconds, counted "
                            "from the start (loading, parsing, enumeration and every LP), e.g. --time-limit 600 "
                            "(default: none)")
    group.add_argument("--timeout", type=float, dest="time_limit", help=argparse.SUPPRESS)
    group.add_argument("--max-regions", type=int, metavar="N",
                       help=f"stop with an error after N cells of an enumeration (default {DEFAULT_MAX_REGIONS:,}), "
                            "e.g. --max-regions 100000")
    group.add_argument("--max-memory", type=float, default=None, metavar="MB",
                       help="stop with an error before the process grows past MB MiB (default: 3/4 of the "
                            "machine's memory, at most 8192), e.g. --max-memory 16000")
    group.add_argument("--input-names", metavar="NAMES",
                       help='comma-separated names of the inputs (default x1..xd), e.g. --input-names "rho,theta,psi"')
    group.add_argument("--output-names", metavar="NAMES",
                       help='comma-separated names of the outputs (default y1..ym), e.g. --output-names "COC,WL,WR"')
    group.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


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
        raise UserError(f"--time-limit must be a positive number of seconds, got {args.time_limit:g}")
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


def max_regions(args: argparse.Namespace) -> int:
    """``--max-regions``, else the one default cap :data:`DEFAULT_MAX_REGIONS`.

    Example:
        >>> max_regions(argparse.Namespace(max_regions=None)), max_regions(argparse.Namespace(max_regions=7))
        (1000000, 7)
    """
    return DEFAULT_MAX_REGIONS if args.max_regions is None else args.max_regions


def refuse_unused(args: argparse.Namespace, command: str, why: str, *options: str) -> None:
    """A shared option given to a command that has no use for it: say so rather than ignore it.

    Example:
        >>> refuse_unused(argparse.Namespace(max_regions=5), "explain", "it enumerates no cells", "max_regions")
        Traceback (most recent call last):
        relucompile.errors.UserError: --max-regions: explain has no use for it (it enumerates no cells)
    """
    for option in options:
        if getattr(args, option, None) not in (None, False):
            raise UserError(f"--{option.replace('_', '-')}: {command} has no use for it ({why})")


def domain_option(args: argparse.Namespace) -> str:
    """The option that chose the domain, as messages name it (all three when none was given).

    Example:
        >>> domain_option(argparse.Namespace(box=None, domain="d.json", vnnlib=None))
        '--domain'
        >>> domain_option(argparse.Namespace(box=None, domain=None, vnnlib=None))
        '--box, --domain or --vnnlib'
    """
    for option in ("box", "domain", "vnnlib"):
        if getattr(args, option, None):
            return f"--{option}"
    return "--box, --domain or --vnnlib"


def load_model(args: argparse.Namespace, domain=None):
    """The model of ``args.model`` as a ReluNet (``--input-shape``, ``--trust-model-code`` applied;
    ``domain``, when known before loading: a large model is lowered over its free coordinates).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> load_model(argparse.Namespace(model=tiny_mlp_path())).d
        2
    """
    from relucompile.api import load_network
    from relucompile.frontends.torch_frontend import parse_shape
    if not os.path.exists(args.model):
        raise UserError(f"{args.model}: no such file")
    shape = getattr(args, "input_shape", None)
    return load_network(args.model, input_shape=parse_shape(shape) if shape else None,
                        trust_code=getattr(args, "trust_model_code", False), domain=domain)


FROM_REGIONS_HELP = ("read the cells from a Parquet regions dataset written by relucompile --regions for this "
                     "model (batch by batch) instead of enumerating them; the domain is the dataset's, e.g. "
                     "--from-regions cells.parquet")


def add_from_regions_option(p: argparse.ArgumentParser, help: str = FROM_REGIONS_HELP) -> None:
    """``--from-regions DIR.parquet``: a command reads stored cells instead of enumerating."""
    p.add_argument("--from-regions", metavar="DIR.parquet", help=help)


def load_for_dataset(args: argparse.Namespace, folder: str):
    """(net, domain) of a command reading the regions dataset ``folder``: the model, loaded over the
    dataset's free coordinates when it was compiled so, must be the dataset's (sha256 and layer
    sizes, as ``relucompile certify`` checks them), and the domain is the dataset's (a --box,
    --domain or --vnnlib given as well must be that domain); else a UserError (exit 2).

    Example:
        >>> load_for_dataset(argparse.Namespace(model="m.onnx"), "/")
        Traceback (most recent call last):
        relucompile.errors.UserError: /: not a regions dataset (no relucompile_regions.json)
    """
    from relucompile.regions.dataset import read_dataset_meta
    from relucompile.shallow.stored import check_dataset_model, dataset_domain
    if os.path.isfile(folder):
        raise UserError(f"{folder}: --from-regions reads a Parquet regions dataset (a folder); write one with "
                        "--regions cells.parquet")
    meta = read_dataset_meta(folder)
    embedding = meta.get("input_embedding")
    try:
        source_domain = dataset_domain(embedding["domain"]) if isinstance(embedding, dict) else None
        domain = dataset_domain(meta["domain"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{folder}: malformed domain in the dataset ({type(exc).__name__}: {exc})") from None
    net = load_model(args, domain=source_domain)
    check_dataset_model(net, meta, folder)
    if any(getattr(args, option, None) for option in ("box", "domain", "vnnlib")):
        given = model_domain(args, net)
        if given.to_json() != (source_domain or domain).to_json():
            raise UserError(f"{folder}: the dataset's domain is {(source_domain or domain).describe()}, not the "
                            f"{domain_option(args)} given ({given.describe()}); drop {domain_option(args)}")
    return net, domain


def model_domains(args: argparse.Namespace, net, *, bounded_for: str | None = None, why: str = "",
                  prop=None) -> list:
    """The domains of ``--box | --domain | --vnnlib`` over the model's inputs: one, or one per box
    of a property whose boxes do not form one box; all of R^d when none is given, unless
    ``bounded_for`` names what needs a bounded domain (then an error says ``why`` and which option
    to give).
    ``prop``: the ``--vnnlib`` property when the caller has parsed it already (parsed once).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> net = load_model(argparse.Namespace(model=tiny_mlp_path()))
        >>> given = argparse.Namespace(model="tiny_mlp.onnx", box=[0.0, 1.0], domain=None, vnnlib=None)
        >>> [d.describe() for d in model_domains(given, net)]
        ['box [0, 1]^2']
        >>> [d.describe() for d in model_domains(argparse.Namespace(model="tiny_mlp.onnx"), net)]
        ['R^2']
    """
    from relucompile.errors import DomainError
    from relucompile.ir.domain import Domain
    from relucompile.progress import plural
    name = os.path.basename(args.model)
    d = net.embedding.d if getattr(net, "embedding", None) is not None else net.d   # the source's inputs
    if getattr(args, "vnnlib", None):
        from relucompile.frontends.vnnlib import parse_vnnlib
        from relucompile.verify.run import domain_from_vnnlib, domains_from_vnnlib
        prop = prop if prop is not None else parse_vnnlib(args.vnnlib)   # parsed by the caller, or here
        if prop.num_inputs != d:
            raise DomainError(f"{args.vnnlib}: the property has {plural(prop.num_inputs, 'input')} but "
                              f"{name} has {d}")
        try:
            return [domain_from_vnnlib(prop)]
        except UserError:  # a union of boxes that is not one box
            return list(domains_from_vnnlib(prop))
    if getattr(args, "domain", None):
        domain = Domain.from_json(args.domain)
        where = args.domain
    elif getattr(args, "box", None):
        lo, hi = args.box
        domain, where = Domain.box([lo] * d, [hi] * d), "--box"
    elif bounded_for:
        raise UserError(f"{bounded_for} needs a bounded domain{f' ({why})' if why else ''}: give {DOMAIN_OPTIONS}")
    else:
        return [Domain.reals(d)]
    if domain.d != d:
        raise DomainError(f"{where}: the domain has dimension {domain.d} but {name} has {plural(d, 'input')}")
    return [domain]


def model_domain(args: argparse.Namespace, net, *, bounded_for: str | None = None, why: str = ""):
    """The one domain of ``--box | --domain | --vnnlib`` (see :func:`model_domains`); a property
    whose boxes do not form one box is refused with what to do.

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> net = load_model(argparse.Namespace(model=tiny_mlp_path()))
        >>> model_domain(argparse.Namespace(model="tiny_mlp.onnx"), net, bounded_for="a picture")
        Traceback (most recent call last):
        relucompile.errors.UserError: a picture needs a bounded domain: give --box LO HI, --domain FILE or --vnnlib PROP
    """
    domains = model_domains(args, net, bounded_for=bounded_for, why=why)
    if len(domains) > 1:
        raise UserError(f"{args.vnnlib}: the property's input region is {len(domains)} boxes that do not form one "
                        "box; give one box with --box or --domain (compile and bounds take such properties)")
    return domains[0]


def announce_estimate(bar, net, domain, args: argparse.Namespace) -> None:
    """Before an enumeration: estimate its cell count from sampled patterns
    (:func:`relucompile.regions.estimate.estimate_cell_count`) and arm ``bar`` (a
    :class:`~relucompile.progress.Progress`) to warn, once the rate is measured (a run that ends
    within seconds says nothing), when the estimate is past ``--max-regions`` or, at that rate,
    past ``--time-limit``.  One line on stderr, above the progress line (none with ``-q``).

    Example:
        >>> from relucompile.examples import tiny_mlp_path
        >>> from relucompile.ir.domain import Domain
        >>> from relucompile.progress import Progress
        >>> net, bar = load_model(argparse.Namespace(model=tiny_mlp_path())), Progress()
        >>> args = argparse.Namespace(box=[-1.0, 1.0], max_regions=None, time_limit=10.0)
        >>> announce_estimate(bar, net, Domain.box([-1, -1], [1, 1]), args)
        >>> bar.forecast(1.0)[:62]          # about 100 cells at 1 cell/s: past 10 s
        'relucompile: warning: about 102 cells (estimate from 2,000 sam'
        >>> bar.forecast = None; announce_estimate(bar, net, Domain.box([-1, -1], [1, 1]), args)
        >>> bar.forecast(1000.0) is None    # at 1,000 cells/s it fits
        True
    """
    if not bar.enabled:
        return
    from relucompile.regions.estimate import budget_warning, estimate_cell_count
    guess = estimate_cell_count(net, domain)
    option, cap, seconds = domain_option(args), max_regions(args), args.time_limit

    def forecast(rate: float) -> str | None:
        warning = budget_warning(guess, rate, max_regions=cap, time_limit=seconds, domain_option=option)
        return warning and f"{PROG}: {warning}"
    bar.forecast = forecast


def names(text: str | None, count: int, prefix: str, what: str) -> list[str]:
    """``--input-names`` / ``--output-names`` as a list, else ``prefix1 .. prefixN``: one naming
    scheme for every command's output.

    Example:
        >>> names(None, 3, "y", "output"), names("COC, WL", 2, "y", "output")
        (['y1', 'y2', 'y3'], ['COC', 'WL'])
    """
    if text is None:
        return [f"{prefix}{i}" for i in range(1, count + 1)]
    given = [v.strip() for v in text.split(",")]
    if len(given) != count or not all(given) or len(set(given)) != count:
        raise UserError(f"--{what}-names: expected {count} distinct non-empty comma-separated names, got {text!r}")
    return given


def add_quiet_option(p: argparse.ArgumentParser, help: str = QUIET_HELP) -> None:
    """``-q/--quiet``.

    Example:
        >>> p = make_parser("demo", "", ""); add_quiet_option(p); p.parse_args(["-q"]).quiet
        True
    """
    p.add_argument("-q", "--quiet", action="store_true", help=help)


def add_seed_option(p: argparse.ArgumentParser, drives: str) -> None:
    """``--seed N``: one meaning in every command, the seed of the command's random numbers
    (``drives`` says what they choose there); the same seed gives the same output.

    Example:
        >>> p = make_parser("demo", "", ""); add_seed_option(p, "the sample points")
        >>> p.parse_args(["--seed", "3"]).seed
        3
    """
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help=f"seed of this command's random numbers, here {drives} (default 0); the same seed "
                        "gives the same output, e.g. --seed 1")


def add_json_option(p: argparse.ArgumentParser, help: str = "print a JSON object instead of text, e.g. --json") -> None:
    """``--json``.

    Example:
        >>> p = make_parser("demo", "", ""); add_json_option(p); p.parse_args([]).json
        False
    """
    p.add_argument("--json", action="store_true", help=help)


# -- the error guard -----------------------------------------------------------------------------

def guarded(command: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
    """``command`` with every outcome turned into an exit code of :class:`ExitCode`:

    * a :class:`UserError` (bad option, file or model): one line ``relucompile: error: ...``, 2;
    * argparse's exit (``--help``: 0; a usage error: 2, already printed);
    * Ctrl-C: one line, 130; the reader of stdout gone (``| head``): no message, 141;
    * anything else is a bug: one line naming it, 1 (``RELUCOMPILE_DEBUG=1`` adds the traceback).

    The command runs with one BLAS thread (:func:`~relucompile.numeric.threads.single_threaded_blas`):
    its parallelism is ``--jobs`` alone.

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
    from relucompile.numeric.threads import single_threaded_blas
    try:
        inputs, outputs = split_files(argv)
        with signals_raise(), RunOutputs(inputs, outputs), single_threaded_blas():
            return int(command(argv))
    except Terminated as exc:
        print(f"{PROG}: terminated ({exc}); no output written", file=sys.stderr)
        return ExitCode.TERMINATED
    except UserError as exc:
        print(f"{PROG}: error: {name_the_domain_option(str(exc), argv)}", file=sys.stderr)
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
        signal_raised = _signal_inside(exc, (Terminated, KeyboardInterrupt))
        if isinstance(signal_raised, Terminated):
            print(f"{PROG}: terminated ({signal_raised}); no output written", file=sys.stderr)
            return ExitCode.TERMINATED
        if isinstance(signal_raised, KeyboardInterrupt):
            print(f"{PROG}: interrupted; no output written", file=sys.stderr)
            return ExitCode.INTERRUPTED
        if os.environ.get("RELUCOMPILE_DEBUG"):
            traceback.print_exc()
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (a bug; rerun with "
              "RELUCOMPILE_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return ExitCode.INTERNAL_ERROR


def _signal_inside(exc: BaseException, kinds: tuple) -> BaseException | None:
    """The signal exception (SIGTERM's, Ctrl-C's) that ``exc`` wraps, if any: a signal raised while
    compiled code runs (numba kernels) comes back as a SystemError caused by it.

    Example:
        >>> try:
        ...     try:
        ...         raise KeyboardInterrupt
        ...     except KeyboardInterrupt as inner:
        ...         raise SystemError("returned a result with an exception set") from inner
        ... except SystemError as outer:
        ...     type(_signal_inside(outer, (KeyboardInterrupt,))).__name__
        'KeyboardInterrupt'
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


_SMALLER_DOMAIN = re.compile(r"use a smaller domain \(--box\)")


def name_the_domain_option(message: str, argv: list[str]) -> str:
    """A limit error's advice names the domain option of this command line (the enumeration only
    knows the domain, not which option gave it).

    Example:
        >>> msg = "stopped after 10 regions (--max-regions 10); use a smaller domain (--box) or raise the limit"
        >>> name_the_domain_option(msg, ["m.onnx", "--vnnlib=p.vnnlib"]).split("; ")[1]
        'use a smaller domain (--vnnlib) or raise the limit'
    """
    for option in ("--box", "--domain", "--vnnlib"):
        if any(arg == option or arg.startswith(option + "=") for arg in argv):
            break
    else:
        option = "--box, --domain or --vnnlib"
    return _SMALLER_DOMAIN.sub(f"use a smaller domain ({option})", message)


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
