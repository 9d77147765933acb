"""Safe output files: every writer of a run goes through one :class:`RunOutputs`.

* **Checked before any work**: an output may not be one of the run's inputs (same file, by
  inode, whatever the path says), nor another output of the run; an existing output must be a
  regular file (a device, FIFO, folder or symlink is refused, never replaced); its folder must
  exist and be writable.
* **Staged, then committed together**: each file is written to a temporary file beside its
  target; :meth:`RunOutputs.commit` renames them all at the end.  A run that fails or is
  interrupted (exceptions, Ctrl-C, SIGTERM via :func:`signals_raise`) removes its temporary
  files and leaves every previous output as it was and no new one.
* **Permissions kept**: a replaced file keeps its mode; a new one gets the usual
  ``0666 & ~umask``.

Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> with RunOutputs(inputs=[]) as outputs:
    ...     outputs.write(os.path.join(folder, "a.txt"), lambda f: f.write("one"), text=True)
    ...     outputs.write(os.path.join(folder, "b.txt"), lambda f: f.write("two"), text=True)
    >>> sorted(os.listdir(folder))
    ['a.txt', 'b.txt']
    >>> atomic_write(os.path.join(folder, "a.txt"), lambda f: f.write(b"hello"))
    >>> open(os.path.join(folder, "a.txt")).read()
    'hello'
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
from typing import IO, Callable, Iterable, Iterator, Sequence

from relucompile.errors import UserError

DATASET_MARKER = "relucompile_regions.json"   # marks a folder output (a Parquet regions dataset)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_writable(path: str) -> None:
    """Fail early (before a long compile) if ``path`` cannot be written as a regular file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the output folder {folder} does not exist")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UserError(f"{path}: cannot use as an output ({exc.strerror})") from None
    dataset = st is not None and stat.S_ISDIR(st.st_mode) and os.path.isfile(os.path.join(path, DATASET_MARKER))
    if st is not None and not dataset:      # (a regions dataset, a folder written before, is replaced whole)
        if stat.S_ISDIR(st.st_mode):
            raise UserError(f"{path}: is a folder, not a file")
        if stat.S_ISLNK(st.st_mode):
            raise UserError(f"{path}: is a symbolic link; name the file itself (outputs never replace links)")
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{path}: is not a regular file (a device, FIFO or socket); outputs only replace regular files")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: the output folder is not writable")


class RunOutputs:
    """The output files of one run (see the module docstring); use as a context manager.

    ``inputs``: the files the run reads (model, domain, property, regions file): none of them may
    be an output.
    """

    def __init__(self, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        self._inputs = {ident: path for path in inputs if path for ident in [_identity(path)] if ident}
        self._declared: dict[str, str] = {}            # realpath -> the path as given
        self._staged: list[tuple[str, str]] = []       # (temporary file, target)
        for path in outputs:
            self.declare(path)

    # -- declaring ----------------------------------------------------------------------------
    def declare(self, path: str) -> None:
        """Check ``path`` as an output of this run (call early, before the long work)."""
        real = os.path.realpath(path)
        if real in self._declared:
            raise UserError(f"{path}: named twice as an output of this run (also {self._declared[real]})")
        ident = _identity(path)
        if ident is not None and ident in self._inputs:
            raise UserError(f"{path}: is the input {self._inputs[ident]}; choose another output name "
                            "(an output never replaces an input)")
        check_writable(path)
        self._declared[real] = path

    # -- writing ------------------------------------------------------------------------------
    def write(self, path: str, write: Callable[[IO], None], text: bool = False) -> None:
        """Stage ``write(stream)`` for ``path`` (declared now if it was not)."""
        if any(target == path for _, target in self._staged):
            raise UserError(f"{path}: written twice in one run")
        if os.path.realpath(path) not in self._declared:
            self.declare(path)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        self._staged.append((tmp, path))
        with os.fdopen(fd, "w" if text else "wb") as stream:
            write(stream)
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)

    def write_folder(self, path: str, fill: Callable[[str], None]) -> None:
        """Stage a folder output: ``fill(folder)`` writes into a new temporary folder beside
        ``path`` (it must leave a DATASET_MARKER file there); renamed onto ``path`` at commit."""
        if any(target == path for _, target in self._staged):
            raise UserError(f"{path}: written twice in one run")
        if os.path.realpath(path) not in self._declared:
            self.declare(path)
        folder = os.path.dirname(os.path.abspath(path))
        tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path.rstrip("/")) + ".", suffix=".tmp", dir=folder)
        self._staged.append((tmp, path))
        os.rmdir(tmp)               # fill() creates it
        fill(tmp)

    def commit(self) -> None:
        """Rename every staged file (or folder) onto its target; the targets are re-checked first
        (an earlier folder output is moved aside, then removed)."""
        for _, path in self._staged:
            check_writable(path)
        for tmp, path in self._staged:
            if os.path.isdir(tmp):
                old = None
                if os.path.isdir(path):
                    old = tempfile.mkdtemp(prefix="." + os.path.basename(path.rstrip("/")) + ".", suffix=".old",
                                           dir=os.path.dirname(os.path.abspath(path)))
                    os.replace(path, os.path.join(old, "dataset"))
                os.replace(tmp, path)
                if old is not None:
                    shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        self._staged.clear()

    def abort(self) -> None:
        """Remove every staged temporary file or folder (previous outputs stay as they were)."""
        for tmp, _ in self._staged:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._staged.clear()

    def __enter__(self) -> "RunOutputs":
        _ACTIVE.append(self)
        return self

    def __exit__(self, kind, value, traceback) -> None:
        _ACTIVE.remove(self)
        if kind is None:
            self.commit()
        else:
            self.abort()


_ACTIVE: list[RunOutputs] = []   # the runs in progress (innermost last): atomic_write stages into it


def atomic_write(path: str, write: Callable[[IO], None], text: bool = False,
                 inputs: Sequence[str] = ()) -> None:
    """Write one output file safely: staged into the run in progress (committed with the run's
    other outputs at its end), or on its own (a :class:`RunOutputs` of one file)."""
    if _ACTIVE:
        _ACTIVE[-1].write(path, write, text)
        return
    with RunOutputs(inputs) as outputs:
        outputs.write(path, write, text)


def atomic_write_folder(path: str, fill: Callable[[str], None], inputs: Sequence[str] = ()) -> None:
    """:func:`atomic_write` for a folder output (:meth:`RunOutputs.write_folder`).

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "d.parquet")
        >>> atomic_write_folder(target, lambda f: os.makedirs(f) or open(os.path.join(f, DATASET_MARKER), "w").close())
        >>> os.listdir(target)
        ['relucompile_regions.json']
    """
    if _ACTIVE:
        _ACTIVE[-1].write_folder(path, fill)
        return
    with RunOutputs(inputs) as outputs:
        outputs.write_folder(path, fill)


class Terminated(BaseException):
    """Raised in place of SIGTERM / SIGHUP so that ``finally`` blocks clean up."""


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (a BaseException) in the
    main thread, so an interrupted run removes its temporary files like Ctrl-C does; the previous
    handlers are restored on leaving (a library caller keeps its own)."""
    def handler(signum, frame):
        raise Terminated(signal.Signals(signum).name)
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):     # not the main thread, or not on this platform
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
