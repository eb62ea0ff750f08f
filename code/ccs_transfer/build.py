"""``make book``: prepare the shared results, build the book, then publish it in one step.

1. ``prepare`` resolves the model, verifies the photos, computes the feature
   vectors and trains the head, with progress bars in the terminal. A failure
   a user can cause (no data directory, a model that is not available, a hash
   mismatch) stops here with one message.
2. ``jupyter-book build`` runs into ``_build/.staging`` with Sphinx warnings
   treated as errors and every page executed (or read from the execution cache
   of this build's fingerprint). When a cell raises or times out, the build
   fails and names the page and the exception or timeout on one line.
3. Only a successful build replaces ``_build/html``; a failed one leaves the
   last good site in place. Steps 2 and 3 hold ``_build/.build.lock``, so a
   second build started meanwhile waits for the first.

``--skip-prepare`` leaves out step 1, for books that do not read the edition's
model or data, such as the fixture books of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from filelock import FileLock, Timeout

from .errors import EditionError
from .provenance import BUILD_DATE_VARIABLE, FINGERPRINT_VARIABLE
from .settings import REPOSITORY_ROOT, Settings, current_settings

logger = logging.getLogger("ccs_transfer.build")

# Modules whose changes cannot change an executed output; editing them does not
# re-execute the pages.
_PRESENTATION_ONLY = ("sphinx_", "cli.py", "citation.py", "build.py", "staging.py")


def package_source_sha256() -> str:
    """Hash the package's code and data that executed pages depend on."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if not path.is_file() or path.suffix not in {".py", ".yml", ".csv", ".json"} or "__pycache__" in path.parts:
            continue
        if path.name.startswith(_PRESENTATION_ONLY):
            continue
        digest.update(path.relative_to(package).as_posix().encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_fingerprint(settings: Settings, edition) -> str:
    """Return the key under which this build's executed outputs are cached."""
    from .comparison import availability_fingerprint

    parts = {
        "model": settings.model,
        "classifier_sha256": edition.classifier.sha256,
        "feature_vector_sha256": edition.feature_vector.sha256,
        "flowers_sha256": edition.flowers.collection_sha256,
        "data_dir": str(settings.data_dir),
        "seed": settings.seed,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "code": package_source_sha256(),
        # The comparison page runs every available model, not only the build's.
        "comparison_models": availability_fingerprint(settings),
    }
    text = json.dumps(parts, sort_keys=True)
    return f"{settings.model}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def publish(staged_html: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``staged_html``, never leaving it half-written."""
    incoming = target.with_name(target.name + ".incoming")
    outgoing = target.with_name(target.name + ".outgoing")
    if outgoing.exists() and not target.exists():
        # An earlier publish was killed between its two renames: the last good
        # site is in ``outgoing``, so put it back before anything is deleted.
        outgoing.rename(target)
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.rmtree(outgoing, ignore_errors=True)
    shutil.copytree(staged_html, incoming)
    if target.exists():
        target.rename(outgoing)
    incoming.rename(target)
    shutil.rmtree(outgoing, ignore_errors=True)


@dataclass
class PageFailure:
    """A page whose execution failed during ``jupyter-book build``, as read from the build's output."""

    docname: str
    error: str | None = None
    exception: str | None = None
    timeout_seconds: int | None = None

    def message(self) -> str:
        if self.error == "CellTimeoutError" or self.timeout_seconds is not None:
            after = f" after {self.timeout_seconds} s" if self.timeout_seconds is not None else ""
            return f"page {self.docname} timed out{after} (a cell ran longer than the execute: timeout of _config.yml)"
        if self.exception:
            return f"page {self.docname} raised {self.exception}"
        return f"page {self.docname} failed to execute ({self.error or 'see the messages above'})"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Lines of MyST-NB 1.4, nbclient 0.10 and IPython tracebacks that name a failing page and its cause.
_FAILED_NOTEBOOK = re.compile(r"^(?P<path>.+?): WARNING: Executing notebook failed: (?P<error>\w+)")
_EXECUTION_ERROR = re.compile(r"^myst_nb\.core\.execute\.base\.ExecutionError: (?P<path>.+)$")
_NBCLIENT_ERROR = re.compile(r"^nbclient\.exceptions\.(?P<error>\w+):")
_CELL_TIMEOUT = re.compile(r"A cell timed out while it was being executed, after (?P<seconds>\d+) seconds")
_TRACEBACK_HEADER = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\s+Traceback \(most recent call last\)\s*$")


# Limitation: the page and its cause are read from the output lines of MyST-NB 1.4 and nbclient 0.10; other versions may word them otherwise, and then only the generic failure line is printed.
class BuildOutputScanner:
    """Reader of ``jupyter-book build`` output that collects, line by line, the pages that failed to execute.

    With ``nb_execution_raise_on_error: true`` the build stops at the first
    failing page, and jupyter-book's last line names no page. The page comes
    from MyST-NB's "Executing notebook failed" warning or its ExecutionError,
    and the cause from nbclient's exception and the cell's IPython traceback.
    """

    def __init__(self, source: Path):
        self.source = Path(source).resolve()
        self._failures: dict[str, PageFailure] = {}
        self._exception_name: str | None = None
        self._exception: str | None = None
        self._timeout_seconds: int | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def docname(self, path_text: str) -> str:
        """Return the page name of a source path (relative to the book, no suffix), or the path as printed."""
        path = Path(path_text.strip())
        try:
            return path.resolve().relative_to(self.source).with_suffix("").as_posix()
        except (ValueError, OSError):
            return path_text.strip()

    def feed(self, line: str) -> None:
        text = _ANSI_ESCAPE.sub("", line).rstrip("\r\n")
        with self._lock:
            self._scan(text)

    def _page(self, path_text: str) -> PageFailure:
        name = self.docname(path_text)
        return self._failures.setdefault(name, PageFailure(name))

    def _scan(self, text: str) -> None:
        if match := _FAILED_NOTEBOOK.match(text):
            self._page(match["path"]).error = match["error"]
        elif match := _EXECUTION_ERROR.match(text):
            self._page(match["path"])
        elif match := _NBCLIENT_ERROR.match(text):
            self._error = match["error"]
        if match := _CELL_TIMEOUT.search(text):
            self._timeout_seconds = int(match["seconds"])
        if match := _TRACEBACK_HEADER.match(text):
            self._exception_name = match["name"]
            self._exception = match["name"]
        elif self._exception_name and (text == self._exception_name or text.startswith(self._exception_name + ": ")):
            # The first such line after the header ends the cell's traceback; later ones come from the build's own traceback.
            self._exception = text.strip()
            self._exception_name = None

    def failures(self) -> list[PageFailure]:
        """Return the failing pages; the cell's exception or timeout is attached when one page failed."""
        with self._lock:
            failures = list(self._failures.values())
            if len(failures) == 1:
                failure = failures[0]
                failure.error = failure.error or self._error
                failure.exception = self._exception
                failure.timeout_seconds = self._timeout_seconds
            return failures


def _copy_lines(stream: IO[str], sink: IO[str], scanner: BuildOutputScanner | None) -> None:
    for line in iter(stream.readline, ""):
        sink.write(line)
        sink.flush()
        if scanner is not None:
            scanner.feed(line)


# The exit status of a process stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_STATUS = 130


def run_jupyter_book(
    source: Path, staging: Path, environment: dict[str, str], builder: str = "html", scanner: BuildOutputScanner | None = None
) -> int:
    """Run ``jupyter-book build`` into ``staging`` and return its exit status.

    Its output is copied to this process's stdout and stderr line by line, and
    fed to ``scanner`` when one is given.
    """
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "--path-output", str(staging), "-W", "--keep-going"]
    if builder != "html":
        command += ["--builder", builder]
    logger.info("Running %s", " ".join(command))
    with subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace"
    ) as process:
        copiers = [
            threading.Thread(target=_copy_lines, args=(process.stdout, sys.stdout, scanner), daemon=True),
            threading.Thread(target=_copy_lines, args=(process.stderr, sys.stderr, scanner), daemon=True),
        ]
        for copier in copiers:
            copier.start()
        try:
            for copier in copiers:
                copier.join()
            return process.wait()
        except KeyboardInterrupt:
            # Stop jupyter-book too, so no kernel keeps running; the caller
            # then reports that nothing was published.
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            return INTERRUPTED_EXIT_STATUS


@contextlib.contextmanager
def _build_folder_locked(build_dir: Path) -> Iterator[None]:
    """Hold ``<build_dir>/.build.lock`` so that two builds never write one staging folder and site at once."""
    lock = FileLock(str(build_dir / ".build.lock"))
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.info("Another build is using %s, so this build waits for it to finish (lock %s).", build_dir, lock.lock_file)
            lock.acquire()
    except OSError as error:
        raise EditionError(
            f"Cannot create the build folder lock {lock.lock_file}: {error.strerror or error}.",
            "set EDITION_BUILD_DIR to a writable folder.",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _publish_or_raise(staged_html: Path, site: Path) -> None:
    try:
        publish(staged_html, site)
    except OSError as error:
        raise EditionError(
            f"Publishing {staged_html} to {site} failed: {error.strerror or error}.",
            f"free disk space or make {site.parent} writable, then run the build again.",
        ) from None


def _report_failed_build(status: int, failures: list[PageFailure], site: Path) -> None:
    for failure in failures:
        print(f"error: {failure.message()}", file=sys.stderr)
    site_state = f"{site} still holds the last good build" if site.is_dir() else f"nothing was published to {site}"
    where = "" if failures else " See the messages above for the failing page or warning."
    print(f"error: the book build failed (exit {status}), so {site_state}.{where}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccs_transfer.build", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPOSITORY_ROOT, help="book root folder (with _config.yml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument(
        "--skip-prepare",
        action="store_true",
        help="build --source without resolving the model, verifying the photos or training the head first; "
        "only for books that do not read the edition's model or data, such as the test fixture books",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    fingerprint = None
    try:
        settings = current_settings()
        if not arguments.skip_prepare:
            from .edition import prepare

            data_source = settings.data_dir or ("a download" if settings.allow_network else "nowhere (EDITION_DATA_DIR is unset)")
            logger.info("Preparing model %s with data from %s.", settings.model, data_source)
            edition = prepare(settings)
            from .comparison import prepare_comparison

            logger.info("Preparing the other available models for the comparison page.")
            prepare_comparison(settings)
            fingerprint = build_fingerprint(settings, edition)
    except EditionError as error:
        if arguments.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1

    environment = dict(os.environ)
    if fingerprint is not None:
        environment[FINGERPRINT_VARIABLE] = fingerprint
    environment.setdefault(BUILD_DATE_VARIABLE, datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    staging = settings.build_dir / ".staging"
    site = settings.build_dir / "html"
    scanner = BuildOutputScanner(arguments.source)
    try:
        with _build_folder_locked(settings.build_dir):
            status = run_jupyter_book(arguments.source, staging, environment, scanner=scanner)
            if status == INTERRUPTED_EXIT_STATUS:
                print(f"error: the build was interrupted, so nothing was published; {site} is unchanged.", file=sys.stderr)
                return INTERRUPTED_EXIT_STATUS
            if status != 0:
                _report_failed_build(status, scanner.failures(), site)
                return 1
            _publish_or_raise(staging / "_build" / "html", site)
    except EditionError as error:
        if arguments.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    logger.info("Built %s (fingerprint %s).", site, fingerprint or "none, --skip-prepare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
