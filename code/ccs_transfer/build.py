"""``make book``: prepare the shared results, build the book, then publish it in one step.

1. ``prepare`` resolves the model, verifies the photos, computes the feature
   vectors and trains the head, with progress bars in the terminal. A failure
   a user can cause (no data directory, a model that is not available, a hash
   mismatch) stops here with one message.
2. ``jupyter-book build`` runs into ``_build/.staging`` with Sphinx warnings
   treated as errors and every page executed (or read from the execution cache
   of this build's fingerprint).
3. Only a successful build replaces ``_build/html``; a failed one leaves the
   last good site in place.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import EditionError
from .provenance import BUILD_DATE_VARIABLE, FINGERPRINT_VARIABLE
from .settings import REPOSITORY_ROOT, Settings, current_settings

logger = logging.getLogger("ccs_transfer.build")

# Modules whose changes cannot change an executed output; editing them does not
# re-execute the pages.
_PRESENTATION_ONLY = ("sphinx_", "cli.py", "citation.py", "build.py")


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
    }
    text = json.dumps(parts, sort_keys=True)
    return f"{settings.model}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def publish(staged_html: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``staged_html``, never leaving it half-written."""
    incoming = target.with_name(target.name + ".incoming")
    outgoing = target.with_name(target.name + ".outgoing")
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.rmtree(outgoing, ignore_errors=True)
    shutil.copytree(staged_html, incoming)
    if target.exists():
        target.rename(outgoing)
    incoming.rename(target)
    shutil.rmtree(outgoing, ignore_errors=True)


def run_jupyter_book(source: Path, staging: Path, environment: dict[str, str], builder: str = "html") -> int:
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source), "--path-output", str(staging), "-W", "--keep-going"]
    if builder != "html":
        command += ["--builder", builder]
    logger.info("Running %s", " ".join(command))
    return subprocess.call(command, env=environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccs_transfer.build", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPOSITORY_ROOT, help="book root folder (with _config.yml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        settings = current_settings()
        from .edition import prepare

        logger.info("Preparing model %s with data from %s.", settings.model, settings.data_dir or "the network")
        edition = prepare(settings)
        fingerprint = build_fingerprint(settings, edition)
    except EditionError as error:
        if arguments.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1

    environment = dict(os.environ)
    environment[FINGERPRINT_VARIABLE] = fingerprint
    environment.setdefault(BUILD_DATE_VARIABLE, datetime.datetime.now(datetime.timezone.utc).date().isoformat())
    staging = settings.build_dir / ".staging"
    status = run_jupyter_book(arguments.source, staging, environment)
    if status != 0:
        print(
            f"error: the book build failed (exit {status}); {settings.build_dir / 'html'} still holds the last good build. "
            "See the messages above for the failing page.",
            file=sys.stderr,
        )
        return 1
    publish(staging / "_build" / "html", settings.build_dir / "html")
    logger.info("Built %s (fingerprint %s).", settings.build_dir / "html", fingerprint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
