"""Build the book twice from empty caches and report every difference between the two builds.

Run from the repository root with the venv present:

    EDITION_DATA_DIR=../shared/data .venv/bin/python benchmarks/determinism.py

The script first exports one commit (``--commit``, default HEAD) into a work
folder with ``git archive``, so that both builds run the same code and pages
even while the checkout is being edited. ``--working-tree`` copies the
checkout's current files instead (without .git, .venv, _build and .cache).
``PYTHONPATH`` points the builds and their kernels at the copy's package. Each build runs ``python -m
ccs_transfer.build`` in the copy with ``EDITION_CACHE_DIR`` and
``EDITION_BUILD_DIR`` inside the work folder, emptied before each build. Both
builds therefore convert the model, compute every feature vector and logit,
train the head and execute every page, and both use the same paths. The
script then compares:

- the two ``provenance.json`` files, key by key, ignoring the build date
  (``built_at`` and ``build_date``);
- the text outputs (streams, ``text/plain``, ``text/markdown``, errors) of
  every executed notebook. Images are not compared.

Exit status: 0 when the builds are identical, 1 when they differ, 2 when a
build fails. A build takes several minutes on 2 CPU cores, and two builds
running at once on one machine slow each other down.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

REPOSITORY = Path(__file__).resolve().parents[1]
# Keys that hold the build date, the one value allowed to differ between two builds.
DATE_KEYS = frozenset({"built_at", "build_date"})
TEXT_MIME_TYPES = ("text/plain", "text/markdown")
MAX_REPORTED_DIFFERENCES = 50
NOT_COPIED = (".git", ".venv", "_build", ".cache", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info")


def copy_repository(work: Path, commit: str | None) -> Path:
    """Export ``commit`` (or, when None, copy the checkout's current files) into ``work/source``; return that folder."""
    source = work / "source"
    shutil.rmtree(source, ignore_errors=True)
    if commit is None:
        shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
        return source
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", "--format=tar", commit], capture_output=True)
    if archive.returncode != 0:
        message = archive.stderr.decode("utf-8", "replace").strip()
        print(f"error: git archive {commit} failed: {message}. Fix: pass a commit of this repository with --commit.", file=sys.stderr)
        raise SystemExit(2)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    return source


def run_build(work: Path, source: Path, run: int, environment: dict[str, str]) -> Path:
    """Empty the work folder's cache and build folders, build the book, and keep its outputs in ``work/run-<n>``."""
    cache, build = work / "cache", work / "build"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)
    log_path = work / f"build-{run}.log"
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        completed = subprocess.run(
            [sys.executable, "-m", "ccs_transfer.build"], cwd=source, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        sys.stderr.write(tail)
        print(f"error: build {run} failed with exit {completed.returncode} after {elapsed:.0f} s. Its full log is {log_path}.", file=sys.stderr)
        raise SystemExit(2)
    print(f"build {run}: {elapsed:.0f} s")

    run_folder = work / f"run-{run}"
    shutil.rmtree(run_folder, ignore_errors=True)
    run_folder.mkdir()
    shutil.copy2(build / "html" / "provenance.json", run_folder / "provenance.json")
    executed = build / ".staging" / "_build" / "jupyter_execute"
    if executed.is_dir():
        shutil.copytree(executed, run_folder / "jupyter_execute", ignore=shutil.ignore_patterns("*.png", "*.jpg", "*.svg", "*.pdf"))
    return run_folder


def json_differences(first: Any, second: Any, where: str = "") -> Iterator[str]:
    """Yield one line per value that differs between two JSON documents, skipping the date keys."""
    if isinstance(first, dict) and isinstance(second, dict):
        for key in sorted(set(first) | set(second)):
            if key in DATE_KEYS:
                continue
            path = f"{where}.{key}" if where else key
            if key not in first or key not in second:
                yield f"{path}: only in build {1 if key in first else 2}"
            else:
                yield from json_differences(first[key], second[key], path)
    elif isinstance(first, list) and isinstance(second, list):
        if len(first) != len(second):
            yield f"{where}: {len(first)} items in build 1, {len(second)} in build 2"
        for index, (left, right) in enumerate(zip(first, second)):
            yield from json_differences(left, right, f"{where}[{index}]")
    elif first != second or type(first) is not type(second):
        yield f"{where}: {first!r} in build 1, {second!r} in build 2"


def text_outputs(notebook: Path) -> list[tuple[int, str]]:
    """Return (cell index, text) for every text output of the executed notebook."""
    document = json.loads(notebook.read_text(encoding="utf-8"))
    outputs = []
    for index, cell in enumerate(document.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                outputs.append((index, "".join(output.get("text", ""))))
            elif output.get("output_type") == "error":
                outputs.append((index, f"{output.get('ename')}: {output.get('evalue')}"))
            else:
                for mime_type in TEXT_MIME_TYPES:
                    if mime_type in output.get("data", {}):
                        outputs.append((index, "".join(output["data"][mime_type])))
    return outputs


def notebook_differences(first_run: Path, second_run: Path) -> Iterator[str]:
    first_folder, second_folder = first_run / "jupyter_execute", second_run / "jupyter_execute"
    first_books = {path.relative_to(first_folder) for path in first_folder.rglob("*.ipynb")} if first_folder.is_dir() else set()
    second_books = {path.relative_to(second_folder) for path in second_folder.rglob("*.ipynb")} if second_folder.is_dir() else set()
    for name in sorted(first_books ^ second_books):
        yield f"{name}: executed in build {1 if name in first_books else 2} only"
    for name in sorted(first_books & second_books):
        first_outputs, second_outputs = text_outputs(first_folder / name), text_outputs(second_folder / name)
        if len(first_outputs) != len(second_outputs):
            yield f"{name}: {len(first_outputs)} text outputs in build 1, {len(second_outputs)} in build 2"
        for (cell, left), (_, right) in zip(first_outputs, second_outputs):
            if left == right:
                continue
            left_lines, right_lines = left.splitlines(), right.splitlines()
            line = next((i for i, (a, b) in enumerate(zip(left_lines, right_lines)) if a != b), min(len(left_lines), len(right_lines)))
            first_line = left_lines[line] if line < len(left_lines) else "<end>"
            second_line = right_lines[line] if line < len(right_lines) else "<end>"
            yield f"{name}, cell {cell}, output line {line + 1}: {first_line!r} in build 1, {second_line!r} in build 2"


def report(title: str, differences: list[str]) -> None:
    print(f"{title}: {'identical' if not differences else f'{len(differences)} difference(s)'}")
    for line in differences[:MAX_REPORTED_DIFFERENCES]:
        print(f"  {line}")
    if len(differences) > MAX_REPORTED_DIFFERENCES:
        print(f"  ... and {len(differences) - MAX_REPORTED_DIFFERENCES} more")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="folder for both builds' caches and outputs (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder afterwards (always kept when --work-dir is given)")
    parser.add_argument("--model", default=os.environ.get("EDITION_MODEL", "efficientnet_lite0"), help="model id of both builds")
    source_choice = parser.add_mutually_exclusive_group()
    source_choice.add_argument("--commit", default="HEAD", help="commit to build (default: HEAD)")
    source_choice.add_argument("--working-tree", action="store_true", help="build the checkout's current files, uncommitted changes included")
    arguments = parser.parse_args()
    if not os.environ.get("EDITION_DATA_DIR"):
        print("error: EDITION_DATA_DIR is not set. Fix: set it to the local data mirror, e.g. EDITION_DATA_DIR=../shared/data.", file=sys.stderr)
        return 2

    work = arguments.work_dir.resolve() if arguments.work_dir else Path(tempfile.mkdtemp(prefix="edition-determinism-"))
    work.mkdir(parents=True, exist_ok=True)
    source = copy_repository(work, None if arguments.working_tree else arguments.commit)
    environment = dict(os.environ)
    environment.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(source / "code"), environment.get("PYTHONPATH")])),
        EDITION_MODEL=arguments.model,
        EDITION_CACHE_DIR=str(work / "cache"),
        EDITION_BUILD_DIR=str(work / "build"),
        EDITION_ALLOW_NETWORK=environment.get("EDITION_ALLOW_NETWORK", "0"),
        PYTHONHASHSEED="0",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    environment.pop("EDITION_BUILD_DATE", None)
    if arguments.working_tree:
        built = "the working tree"
    else:
        revision = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", arguments.commit], capture_output=True, text=True)
        built = f"commit {revision.stdout.strip()}"
    print(f"work folder: {work}; building {built}")

    # A failed build exits from run_build and leaves the work folder, with its log, in place.
    first, second = run_build(work, source, 1, environment), run_build(work, source, 2, environment)
    provenance = [json.loads((run / "provenance.json").read_text(encoding="utf-8")) for run in (first, second)]
    provenance_changes = list(json_differences(*provenance))
    notebook_changes = list(notebook_differences(first, second))
    print(f"pages in provenance.json: {len(provenance[0].get('pages', {}))}")
    report("provenance.json (build date ignored)", provenance_changes)
    report("text outputs of executed pages", notebook_changes)
    if arguments.keep or arguments.work_dir is not None:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if provenance_changes or notebook_changes else 0


if __name__ == "__main__":
    sys.exit(main())
