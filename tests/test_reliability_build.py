"""The build as a whole: a failing page fails the build, names the page, and keeps the last good site.

The fixture books in ``tests/fixtures/books`` are built with
``python -m ccs_transfer.build --source <book> --skip-prepare`` in a
subprocess, as ``make book`` runs the real one. Each build starts a Jupyter
kernel, so these tests take a few seconds each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from ccs_transfer.build import BuildOutputScanner, PageFailure
from ccs_transfer.registry import load_registry

FIXTURE_BOOKS = Path(__file__).resolve().parent / "fixtures" / "books"
MARKER = "<html><body>the last good build</body></html>\n"


def build_environment(build_dir: Path, **variables: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EDITION_")}
    environment.update({"EDITION_BUILD_DIR": str(build_dir), "EDITION_ALLOW_NETWORK": "0", "TF_CPP_MIN_LOG_LEVEL": "3", **variables})
    return environment


def run_build(arguments: list[str], environment: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ccs_transfer.build", *arguments], capture_output=True, text=True, env=environment, timeout=timeout
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def last_good_site(tmp_path) -> Path:
    """A build folder whose html/ contains an earlier site, marked by its index.html."""
    site = tmp_path / "_build" / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text(MARKER)
    return site


def build_fixture(name: str, tmp_path: Path) -> subprocess.CompletedProcess:
    book = tmp_path / name
    shutil.copytree(FIXTURE_BOOKS / name, book)
    return run_build(["--source", str(book), "--skip-prepare"], build_environment(tmp_path / "_build"))


# --- Fixture books -----------------------------------------------------------------------------


@pytest.mark.slow
def test_raising_cell_fails_build_and_keeps_site(tmp_path, last_good_site):
    completed = build_fixture("raising", tmp_path)

    assert completed.returncode == 1
    errors = error_lines(completed.stderr)
    assert errors[0] == "error: page cell_page raised RuntimeError: planted failure"
    assert f"{last_good_site} still holds the last good build" in errors[-1]
    assert (last_good_site / "index.html").read_text() == MARKER
    assert sorted(path.name for path in last_good_site.iterdir()) == ["index.html"]
    assert not (last_good_site.parent / "html.incoming").exists()


@pytest.mark.slow
def test_timed_out_cell_fails_build_and_keeps_site(tmp_path, last_good_site):
    started = time.monotonic()
    completed = build_fixture("timeout", tmp_path)

    assert time.monotonic() - started < 50  # the cell sleeps 60 s, so the 5 s timeout ended it
    assert completed.returncode == 1
    errors = error_lines(completed.stderr)
    assert errors[0].startswith("error: page cell_page timed out after 5 s")
    assert (last_good_site / "index.html").read_text() == MARKER
    assert not (last_good_site.parent / "html.incoming").exists()


@pytest.mark.slow
def test_failed_first_build_publishes_nothing(tmp_path):
    completed = build_fixture("raising", tmp_path)

    assert completed.returncode == 1
    assert "nothing was published to" in error_lines(completed.stderr)[-1]
    assert not (tmp_path / "_build" / "html").exists()


@pytest.mark.slow
def test_passing_book_replaces_site(tmp_path, last_good_site):
    # Control for the tests above: a build that succeeds does replace the marker.
    completed = build_fixture("passing", tmp_path)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert error_lines(completed.stderr) == []
    assert "Fixture book: passing" in (last_good_site / "index.html").read_text()
    assert (last_good_site / "cell_page.html").is_file()


@pytest.mark.slow
def test_second_build_waits_for_build_folder_lock(tmp_path):
    book = tmp_path / "passing"
    shutil.copytree(FIXTURE_BOOKS / "passing", book)
    build_dir = tmp_path / "_build"
    build_dir.mkdir()
    lock = FileLock(str(build_dir / ".build.lock"))

    with lock:
        process = subprocess.Popen(
            [sys.executable, "-m", "ccs_transfer.build", "--source", str(book), "--skip-prepare"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=build_environment(build_dir),
        )
        time.sleep(5)
        still_waiting = process.poll() is None
        staged_while_locked = (build_dir / ".staging").exists()
    stdout, stderr = process.communicate(timeout=300)

    assert still_waiting
    assert not staged_while_locked
    assert "Another build is using" in stderr
    assert process.returncode == 0, stderr[-3000:]
    assert (build_dir / "html" / "cell_page.html").is_file()


def test_unwritable_build_folder_gives_one_line(tmp_path):
    book = tmp_path / "passing"
    shutil.copytree(FIXTURE_BOOKS / "passing", book)
    not_a_folder = tmp_path / "build-file"
    not_a_folder.write_text("a file where the build folder should be")

    completed = run_build(["--source", str(book), "--skip-prepare"], build_environment(not_a_folder), timeout=120)

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    errors = error_lines(completed.stderr)
    assert len(errors) == 1
    assert f"Cannot create the build folder lock {not_a_folder}/.build.lock" in errors[0]
    assert "EDITION_BUILD_DIR" in errors[0]


# --- Messages for wrong settings ---------------------------------------------------------------


def test_wrong_epochs_type_gives_one_line(tmp_path):
    completed = run_build([], build_environment(tmp_path / "_build", EDITION_EPOCHS="ten"), timeout=120)

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    errors = error_lines(completed.stderr)
    assert len(errors) == 1
    assert "EDITION_EPOCHS='ten' is not a whole number" in errors[0]
    assert "set EDITION_EPOCHS to a whole number of at least 1" in errors[0]


def test_unknown_model_lists_model_ids(tmp_path):
    completed = run_build([], build_environment(tmp_path / "_build", EDITION_MODEL="resnet"), timeout=120)

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    errors = error_lines(completed.stderr)
    assert len(errors) == 1
    assert "Unknown model id 'resnet'" in errors[0]
    assert "EDITION_MODEL" in errors[0]
    for model_id in load_registry():
        assert model_id in errors[0]


# --- Reading jupyter-book's output -------------------------------------------------------------

# Lines of a real `jupyter-book build` (1.0.4, MyST-NB 1.4, nbclient 0.10) of the fixture books.
RAISING_CACHE_MODE = """\
reading sources... [ 50%] failing
/books/raising/failing.md: Executing notebook using local CWD [mystnb]
/books/raising/failing.md: WARNING: Executing notebook failed: CellExecutionError [mystnb.exec]

Exception occurred:
myst_nb.core.execute.base.ExecutionError: /books/raising/failing.md
Traceback (most recent call last):
nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:
------------------
print("before")
raise RuntimeError("planted failure")
------------------

----- stdout -----
before
------------------

\x1b[0;31m---------------------------------------------------------------------------\x1b[0m
\x1b[0;31mRuntimeError\x1b[0m                              Traceback (most recent call last)
Cell \x1b[0;32mIn[1], line 2\x1b[0m
\x1b[0;32m----> 2\x1b[0m \x1b[38;5;28;01mraise\x1b[39;00m \x1b[38;5;167;01mRuntimeError\x1b[39;00m(\x1b[38;5;124m"\x1b[39m\x1b[38;5;124mplanted failure\x1b[39m\x1b[38;5;124m"\x1b[39m)
\x1b[0;31mRuntimeError\x1b[0m: planted failure


The above exception was the direct cause of the following exception:

Traceback (most recent call last):
myst_nb.core.execute.base.ExecutionError: /books/raising/failing.md

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
RuntimeError: 
===============================================================================

There was an error in building your book. Look above for the cause.
"""

TIMEOUT_CACHE_MODE = """\
/books/sleeping/failing.md: Executing notebook using local CWD [mystnb]
[IPKernelApp] ERROR | Exception in message handler:
Traceback (most recent call last):
zmq.error.ZMQError: Socket operation on non-socket
/books/sleeping/failing.md: WARNING: Executing notebook failed: CellTimeoutError [mystnb.exec]
myst_nb.core.execute.base.ExecutionError: /books/sleeping/failing.md
Traceback (most recent call last):
_queue.Empty
nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 5 seconds.
The message was: Cell execution timed out.
RuntimeError: 
There was an error in building your book. Look above for the cause.
"""


def scan(text: str, source: str = "/books/raising") -> list[PageFailure]:
    scanner = BuildOutputScanner(Path(source))
    for line in text.splitlines(keepends=True):
        scanner.feed(line)
    return scanner.failures()


def test_scanner_names_page_and_exception():
    failures = scan(RAISING_CACHE_MODE)

    assert [failure.message() for failure in failures] == ["page failing raised RuntimeError: planted failure"]


def test_scanner_names_timed_out_page():
    failures = scan(TIMEOUT_CACHE_MODE, "/books/sleeping")

    assert len(failures) == 1
    assert failures[0].message().startswith("page failing timed out after 5 s")


def test_scanner_keeps_chained_exception_last():
    text = RAISING_CACHE_MODE.replace(
        "\x1b[0;31mRuntimeError\x1b[0m: planted failure\n",
        "KeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\n"
        "ValueError                                Traceback (most recent call last)\nValueError: second failure\n",
    )

    assert scan(text)[0].message() == "page failing raised ValueError: second failure"


def test_scanner_reports_each_failed_page_without_details():
    text = (
        "/books/raising/a.md: WARNING: Executing notebook failed: CellExecutionError [mystnb.exec]\n"
        "/books/raising/part/b.md: WARNING: Executing notebook failed: DeadKernelError [mystnb.exec]\n"
    )

    messages = [failure.message() for failure in scan(text)]

    assert messages == ["page a failed to execute (CellExecutionError)", "page part/b failed to execute (DeadKernelError)"]


def test_scanner_finds_nothing_in_warning_only_failure():
    text = "/books/raising/index.md:3: WARNING: undefined label: 'missing' [ref.ref]\nbuild finished with problems, 1 warning.\n"

    assert scan(text) == []


def test_interrupted_build_stops_jupyter_book(monkeypatch, tmp_path):
    import io
    import subprocess as subprocess_module

    from ccs_transfer import build

    class InterruptedProcess:
        """A jupyter-book process whose output reading is interrupted by Ctrl-C."""

        def __init__(self, *arguments, **options):
            self.stdout = io.StringIO("")
            self.stderr = io.StringIO("")
            self.terminated = False
            InterruptedProcess.last = self

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            return False

        def wait(self, timeout=None):
            if not self.terminated:
                raise KeyboardInterrupt
            return -15

        def terminate(self):
            self.terminated = True

        def kill(self):
            self.terminated = True

    monkeypatch.setattr(subprocess_module, "Popen", InterruptedProcess)
    status = build.run_jupyter_book(tmp_path, tmp_path / "staging", {})
    assert status == 130
    assert InterruptedProcess.last.terminated is True
