"""``ccs-transfer``: the reader's command line.

Subcommands:

- ``classify``: run the edition's ImageNet classifier on the reader's photos,
  with the book's loading (``images.load_photo``), preprocessing
  (``Edition.classifier_input``) and model (``open_edition``);
- ``models``: list the model registry and whether each model is available here;
- ``provenance``: summarise what a build used (``provenance.json``);
- ``diff``: list what changed between two builds' ``provenance.json``;
- ``stage``: download a hub model into a local mirror for offline builds;
- ``settings``: list every ``EDITION_*`` setting with its default and help.

Exit status: 0 on success, 1 when an input was rejected or a model, data or
settings error stopped the command, 2 for a usage error, 130 on Ctrl-C. Every
error is one line on stderr (``error: ...``); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import EditionError, ImageError

logger = logging.getLogger("ccs_transfer.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# The progress bar appears only for more photos than this, and only when stderr is a terminal.
PROGRESS_MIN_PHOTOS = 3
DEFAULT_TOP_K = 5
CLASSIFIER_PAGE = "tutorial/classifier"
TRANSFER_PAGE = "tutorial/transfer"
COMPARISON_PAGE = "comparison"
ABSENT = "(absent)"


class UsageError(Exception):
    """A command line that parses but cannot be run as given (exit status 2)."""


# --- Output helpers ---------------------------------------------------------------


class _Output:
    """Writes results to stdout and errors to stderr, around a progress bar when one is shown."""

    def __init__(self):
        self.bar = None

    def out(self, text: str) -> None:
        self._write(text, sys.stdout)

    def error(self, text: str) -> None:
        self._write(f"error: {text}", sys.stderr)

    def _write(self, text: str, stream) -> None:
        if self.bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(text, file=stream)
        else:
            print(text, file=stream)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- classify -------------------------------------------------------------------------


def _expand_inputs(inputs: list[str]) -> tuple[list[Path], list[ImageError]]:
    """Expand files and folders into image paths, each once, and return them with the errors for empty folders."""
    from .images import IMAGE_SUFFIXES, iter_image_files

    paths: dict[str, Path] = {}
    empty_folders = []
    for named in inputs:
        found = list(iter_image_files(named))
        if Path(named).is_dir() and not found:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            empty_folders.append(ImageError(
                named,
                "the folder contains no image files.",
                f"name a folder with files ending in {suffixes} (hidden files and folders are skipped).",
            ))
            continue
        for path in found:
            paths.setdefault(str(path), path)
    return list(paths.values()), empty_folders


def _prediction_records(predictions) -> list[dict[str, Any]]:
    return [
        {"rank": p.rank, "index": p.index, "label": p.label, "probability": round(p.probability, 6)}
        for p in predictions
    ]


def _print_classification(output: _Output, path: Path, sha256: str, model_id: str, predictions, as_json: bool) -> None:
    if as_json:
        record = {"path": str(path), "sha256": sha256, "model": model_id, "top_k": _prediction_records(predictions)}
        output.out(json.dumps(record, ensure_ascii=False))
        return
    label_width = max(len(p.label) for p in predictions)
    lines = [f"{path}  (model {model_id}, sha256 {sha256[:16]}…)"]
    for p in predictions:
        lines.append(f"  {p.rank:>2}. {p.label:<{label_width}}  {p.probability:.4f}  (index {p.index})")
    output.out("\n".join(lines))


def _reject(output: _Output, error: ImageError, as_json: bool) -> None:
    output.error(_one_line(str(error)))
    if as_json:
        output.out(json.dumps({"path": error.path, "error": error.reason, "fix": error.fix}, ensure_ascii=False))


def _command_classify(arguments: argparse.Namespace) -> int:
    from .comparison import open_model_edition
    from .images import load_photo
    from .integrity import sha256_file
    from .labels import top_k
    from .registry import get_model_spec, load_registry
    from .settings import current_settings

    overrides = {"model": arguments.model} if arguments.model else {}
    settings = current_settings(**overrides)
    spec = get_model_spec(settings.model, load_registry(settings.registry))

    output = _Output()
    paths, empty_folders = _expand_inputs(arguments.inputs)
    for error in empty_folders:
        _reject(output, error, arguments.json)
    rejected = len(empty_folders)
    edition = None
    classified = 0

    from tqdm.auto import tqdm

    # disable=None lets tqdm hide the bar when stderr is not a terminal.
    disable_bar = None if len(paths) > PROGRESS_MIN_PHOTOS else True
    with tqdm(paths, desc="classifying", unit="photo", file=sys.stderr, disable=disable_bar, leave=False) as bar:
        output.bar = None if bar.disable else bar
        for path in bar:
            try:
                photo = load_photo(path, max_pixels=settings.max_image_pixels)
                sha256 = sha256_file(path)
            except ImageError as error:
                _reject(output, error, arguments.json)
                rejected += 1
                continue
            except OSError as error:
                # The file changed or vanished between decoding and hashing.
                _reject(output, ImageError(path, f"the file cannot be read ({error.strerror or error})."), arguments.json)
                rejected += 1
                continue
            if edition is None:
                edition = open_model_edition(settings, spec)
            logits = edition.classifier_logits(edition.classifier_input(photo))[0]
            predictions = top_k(logits, edition.vocabulary, k=arguments.top)
            if classified and not arguments.json:
                output.out("")
            _print_classification(output, path, sha256, spec.id, predictions, arguments.json)
            classified += 1
    return EXIT_FAILED if rejected else EXIT_OK


# --- models ---------------------------------------------------------------------------


def _command_models(arguments: argparse.Namespace) -> int:
    from .model_sources import model_availability
    from .registry import load_registry
    from .settings import current_settings

    settings = current_settings()
    registry = load_registry(settings.registry)
    rows = []
    for spec in registry.values():
        available, reason = model_availability(spec, settings)
        rows.append((spec, available, reason))

    if arguments.json:
        for spec, available, reason in rows:
            record = {**spec.provenance(), "feature_size": spec.feature_size, "available": available, "reason": reason}
            print(json.dumps(record, ensure_ascii=False))
        return EXIT_OK

    header = ("id", "source", "input", "labels", "licence", "available here")
    table = [header] + [
        (spec.id, spec.source, f"{spec.input_size}px", spec.labels, spec.licence, "yes" if available else "no")
        for spec, available, _ in rows
    ]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print()
    for spec, available, reason in rows:
        print(f"{spec.id}: {spec.title}")
        print(f"  {'available' if available else 'not available'}: {reason}")
    registry_name = settings.registry or "the packaged models.yml"
    print(f"\nRegistry: {registry_name}. Build with one of them: make book MODEL=<id>.")
    return EXIT_OK


# --- provenance and diff --------------------------------------------------------------


def locate_provenance(argument: str | None) -> Path:
    """Return the provenance.json that ``argument`` names: the file, or a build folder or HTML folder holding it."""
    if argument is None:
        from .settings import current_settings

        path = current_settings().build_dir
    else:
        path = Path(argument).expanduser()
    if path.is_file():
        return path
    if path.suffix == ".json":
        raise EditionError(f"{path}: file not found.", "pass the path of an existing provenance.json, or a build folder.")
    candidates = [path / "html" / "provenance.json", path / "provenance.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise EditionError(
        f"No provenance.json found at {path} (looked for {', '.join(str(c) for c in candidates)}).",
        "build the book with `make book`, or pass a build folder or the path of a provenance.json.",
    )


def load_provenance(path: Path) -> dict[str, Any]:
    """Read a build's provenance.json; raise EditionError if it is unreadable or not a JSON object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EditionError(f"{path} cannot be read: {error.strerror or error}.") from None
    except ValueError as error:
        raise EditionError(f"{path} is not valid JSON: {error}.", "build the book again to rewrite it.") from None
    if not isinstance(document, dict):
        raise EditionError(f"{path} is not a provenance record: expected a JSON object.")
    missing = [key for key in ("edition_version", "pages") if key not in document]
    if missing:
        raise EditionError(
            f"{path} is not a provenance record of this edition: the key(s) {', '.join(missing)} are missing.",
            "pass the provenance.json that `make book` wrote into _build/html.",
        )
    return document


def _lookup(document: dict[str, Any], keys: Iterable[str]) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _grace_hopper_top5(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return _lookup(document, ("results", CLASSIFIER_PAGE, "grace_hopper_top5")) or {}


def _format_prediction(entry: dict[str, Any]) -> str:
    probability = entry.get("probability")
    probability_text = f"{probability:.4f}" if isinstance(probability, (int, float)) else "?"
    return f"{entry.get('label', '?')} {probability_text} (index {entry.get('index', '?')})"


def _provenance_summary(path: Path, document: dict[str, Any]) -> list[str]:
    model = document.get("model") or {}
    labels = document.get("labels") or {}
    data = document.get("data")
    lines = [
        f"Provenance of the build in {path}",
        f"  built:          {document.get('built_at', ABSENT)}, edition {document.get('edition_version', ABSENT)}, "
        f"fingerprint {document.get('fingerprint', ABSENT)}",
    ]
    if not model:
        lines.append("  (no executed page left a record in this build)")
        return lines
    lines += [
        f"  model:          {model.get('title', ABSENT)} ({model.get('id', ABSENT)}, {model.get('source', ABSENT)})",
        f"  classifier:     {model.get('classifier_handle', ABSENT)}",
        f"  feature vector: {model.get('feature_vector_handle', ABSENT)}",
        f"  weights sha256: {model.get('weights_sha256', ABSENT)} ({model.get('weights_sha256_of', ABSENT)})",
        f"  labels:         {labels.get('name', ABSENT)}, {labels.get('size', ABSENT)} names from {labels.get('source', ABSENT)}",
    ]
    if data:
        verified = "yes" if data.get("manifest_verified") else "no manifest"
        lines.append(
            f"  flower photos:  {data.get('photos', ABSENT)} from {data.get('origin', ABSENT)}, "
            f"collection sha256 {data.get('collection_sha256', ABSENT)}, manifest verified: {verified}"
        )
    lines.append(f"  seed, epochs:   {document.get('seed', ABSENT)}, {document.get('epochs', ABSENT)}")

    for copy, predictions in _grace_hopper_top5(document).items():
        lines.append(f"  Grace Hopper top-5, {copy} copy:")
        lines += [f"    {rank}. {_format_prediction(entry)}" for rank, entry in enumerate(predictions, start=1)]
    accuracy = _lookup(document, ("results", TRANSFER_PAGE, "validation_accuracy"))
    if accuracy is not None:
        lines.append(f"  flower validation accuracy: {accuracy}")
    compared = _lookup(document, ("results", COMPARISON_PAGE, "models")) or {}
    for model_id, result in compared.items():
        lines.append(f"  comparison, {model_id}: validation accuracy {result.get('validation_accuracy', ABSENT)}")
    libraries = document.get("libraries") or {}
    if libraries:
        lines.append("  libraries:      " + ", ".join(f"{name} {version}" for name, version in libraries.items()))
    pages = document.get("pages") or {}
    lines.append(f"  pages:          {', '.join(pages) if pages else ABSENT}")
    return lines


def _command_provenance(arguments: argparse.Namespace) -> int:
    path = locate_provenance(arguments.build)
    document = load_provenance(path)
    if arguments.json:
        print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print("\n".join(_provenance_summary(path, document)))
    return EXIT_OK


# Scalar fields that ``diff`` compares: (name shown, path of keys in provenance.json).
# Limitation: results of the evidence pages, and the comparison page's per-model top-5, are not compared.
DIFF_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model.id", ("model", "id")),
    ("model.source", ("model", "source")),
    ("model.classifier_handle", ("model", "classifier_handle")),
    ("model.feature_vector_handle", ("model", "feature_vector_handle")),
    ("model.weights_sha256", ("model", "weights_sha256")),
    ("model.feature_vector.sha256", ("model", "feature_vector", "sha256")),
    ("labels.name", ("labels", "name")),
    ("labels.sha256", ("labels", "sha256")),
    ("data.collection_sha256", ("data", "collection_sha256")),
    ("data.photos", ("data", "photos")),
    ("data.manifest_verified", ("data", "manifest_verified")),
    ("seed", ("seed",)),
    ("epochs", ("epochs",)),
    ("validation_accuracy", ("results", TRANSFER_PAGE, "validation_accuracy")),
    ("edition_version", ("edition_version",)),
)


def _format_value(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changed_scalars(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return (lines for changed fields, names of unchanged fields)."""
    fields = list(DIFF_FIELDS)
    compared_ids = {
        *(_lookup(old, ("results", COMPARISON_PAGE, "models")) or {}),
        *(_lookup(new, ("results", COMPARISON_PAGE, "models")) or {}),
    }
    for model_id in sorted(compared_ids):
        fields.append(
            (f"comparison.{model_id}.validation_accuracy", ("results", COMPARISON_PAGE, "models", model_id, "validation_accuracy"))
        )
    for name in sorted({*(old.get("libraries") or {}), *(new.get("libraries") or {})}):
        fields.append((f"libraries.{name}", ("libraries", name)))

    changed, unchanged = [], []
    for name, keys in fields:
        before, after = _lookup(old, keys), _lookup(new, keys)
        if before == after:
            unchanged.append(name)
            continue
        line = f"  {name}: {_format_value(before)} → {_format_value(after)}"
        if isinstance(before, (int, float)) and isinstance(after, (int, float)) and not isinstance(before, bool):
            line += f" ({after - before:+.4f})"
        changed.append(line)
    return changed, unchanged


def _top5_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_top5, new_top5 = _grace_hopper_top5(old), _grace_hopper_top5(new)
    lines = []
    for copy in sorted({*old_top5, *new_top5}):
        before, after = old_top5.get(copy, []), new_top5.get(copy, [])
        if before == after:
            lines.append(f"Grace Hopper top-5, {copy} copy: unchanged")
            continue
        lines.append(f"Grace Hopper top-5, {copy} copy: changed (* marks a changed rank)")
        formatted_before = [_format_prediction(entry) for entry in before]
        width = max([len(text) for text in formatted_before] + [len(ABSENT)])
        lines.append(f"  rank {'A'.ljust(width)}  B")
        for rank in range(max(len(before), len(after))):
            left = formatted_before[rank] if rank < len(before) else ABSENT
            right = _format_prediction(after[rank]) if rank < len(after) else ABSENT
            marker = " " if rank < len(before) and rank < len(after) and before[rank] == after[rank] else "*"
            lines.append(f"  {rank + 1:>3}{marker} {left.ljust(width)}  {right}")
    return lines


def diff_provenance(old_path: Path, old: dict[str, Any], new_path: Path, new: dict[str, Any]) -> list[str]:
    """Return the readable lines that ``ccs-transfer diff`` prints for two provenance documents."""
    lines = []
    for letter, path, document in (("A", old_path, old), ("B", new_path, new)):
        lines.append(
            f"{letter}: {path} (built {document.get('built_at', ABSENT)}, "
            f"model {_format_value(_lookup(document, ('model', 'id')))}, fingerprint {document.get('fingerprint', ABSENT)})"
        )
    lines.append("")
    changed, unchanged = _changed_scalars(old, new)
    top5_lines = _top5_differences(old, new)
    if changed:
        lines.append(f"Changed ({len(changed)}), A → B:")
        lines += changed
    else:
        lines.append("No compared field changed.")
    lines.append(f"Unchanged: {', '.join(unchanged) if unchanged else 'none'}")
    if top5_lines:
        lines.append("")
        lines += top5_lines
    return lines


def _command_diff(arguments: argparse.Namespace) -> int:
    old_path, new_path = locate_provenance(arguments.old), locate_provenance(arguments.new)
    print("\n".join(diff_provenance(old_path, load_provenance(old_path), new_path, load_provenance(new_path))))
    return EXIT_OK


# --- stage ------------------------------------------------------------------------------


def _command_stage(arguments: argparse.Namespace) -> int:
    from .registry import get_model_spec, load_registry
    from .settings import current_settings
    from .staging import stage_model, staging_not_needed

    settings = current_settings()
    spec = get_model_spec(arguments.model_id, load_registry(settings.registry))
    reason = staging_not_needed(spec)
    if reason is not None:
        print(reason)
        return EXIT_OK
    models_dir = arguments.models_dir or settings.models_dir
    if models_dir is None:
        raise UsageError("stage needs a mirror folder: pass --models-dir DIR or set EDITION_MODELS_DIR.")

    logging.getLogger("ccs_transfer.staging").setLevel(logging.INFO)
    staged = stage_model(spec, models_dir, allow_network=settings.allow_network)
    print(f"Staged {spec.id} in {Path(models_dir).expanduser().resolve()}:")
    for entry in staged:
        print(f"  {entry.kind:<15} {entry.handle}")
        print(f"  {'':<15} folder {entry.folder.name}, sha256 {entry.sha256}")
    print(f"Build with it offline: EDITION_MODELS_DIR={Path(models_dir).expanduser().resolve()} make book MODEL={spec.id}")
    return EXIT_OK


# --- settings ---------------------------------------------------------------------------


def _command_settings(arguments: argparse.Namespace) -> int:
    import textwrap

    from .settings import Settings

    for variable, default, help_text in Settings.describe():
        print(variable)
        print(f"  default: {default}")
        if variable in os.environ:
            print(f"  set here: {os.environ[variable]!r}")
        print(textwrap.fill(help_text, width=88, initial_indent="  ", subsequent_indent="  "))
    return EXIT_OK


# --- Parser and entry point --------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below the minimum of 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``ccs-transfer``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show progress messages of the pipeline")

    parser = argparse.ArgumentParser(
        prog="ccs-transfer",
        description="The command line of the edition 'Transfer Learning, Read Closely': classify your own photos "
        "with the book's model, list and stage models, and compare builds.",
        epilog="Settings come from EDITION_* environment variables; `ccs-transfer settings` lists them.",
        parents=[common],
    )

    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = commands.add_parser(
        "classify", parents=[common], help="label photos with the book's ImageNet classifier",
        description="Label photos with the ImageNet classifier of the book, loaded and preprocessed as on the "
        "classifier page (whole photo resized bicubically to the model's input size). Folders are read recursively.",
    )
    classify.add_argument("inputs", nargs="+", metavar="PHOTO_OR_FOLDER", help="image files or folders of images")
    classify.add_argument("--model", metavar="ID", help="registry model id (default: EDITION_MODEL, else efficientnet_lite0)")
    classify.add_argument("--top", type=_positive_int, default=DEFAULT_TOP_K, metavar="K", help="number of labels per photo (default: 5)")
    classify.add_argument("--json", action="store_true", help="print one JSON object per input (JSON Lines)")
    classify.set_defaults(handler=_command_classify)

    models = commands.add_parser(
        "models", parents=[common], help="list the model registry and what is available here",
        description="List the registry's models with their source, input size, labels and licence, and whether "
        "each can be used on this machine (and why not).",
    )
    models.add_argument("--json", action="store_true", help="print one JSON object per model")
    models.set_defaults(handler=_command_models)

    provenance = commands.add_parser(
        "provenance", parents=[common], help="summarise what a build used",
        description="Summarise a build's provenance.json: model and weights hash, labels, photos, results, libraries.",
    )
    provenance.add_argument("build", nargs="?", metavar="BUILD_DIR", help="build folder (default: EDITION_BUILD_DIR, else _build), or a provenance.json")
    provenance.add_argument("--json", action="store_true", help="print the whole provenance.json")
    provenance.set_defaults(handler=_command_provenance)

    diff = commands.add_parser(
        "diff", parents=[common], help="list what changed between two builds",
        description="Compare two builds' provenance.json: models and weights hashes, data, Grace Hopper top-5, "
        "validation accuracies and library versions. Exits with 0 whether or not they differ.",
    )
    diff.add_argument("old", metavar="A", help="provenance.json (or build folder) of the first build")
    diff.add_argument("new", metavar="B", help="provenance.json (or build folder) of the second build")
    diff.set_defaults(handler=_command_diff)

    stage = commands.add_parser(
        "stage", parents=[common], help="download a hub model into a local mirror for offline builds",
        description="Download a hub model's classifier and feature-vector handles into a mirror folder and record "
        "their hashes in staged.json. Needs network. Later builds with EDITION_MODELS_DIR set load the model offline "
        "and reject a copy whose files changed.",
    )
    stage.add_argument("model_id", metavar="ID", help="registry model id, for example mobilenet_v2")
    stage.add_argument("--models-dir", type=Path, metavar="DIR", help="mirror folder (default: EDITION_MODELS_DIR)")
    stage.set_defaults(handler=_command_stage, parser=stage)

    settings = commands.add_parser(
        "settings", parents=[common], help="list the EDITION_* settings",
        description="List every EDITION_* environment variable with its default and meaning.",
    )
    settings.set_defaults(handler=_command_settings)
    return parser


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


@contextlib.contextmanager
def _package_logging(debug: bool, verbose: bool) -> Iterator[None]:
    """Send the package's log records to stderr as plain messages, restoring the previous setup afterwards."""
    level = logging.WARNING
    if verbose:
        level = logging.INFO
    if debug:
        level = logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    package_logger = logging.getLogger("ccs_transfer")
    staging_logger = logging.getLogger("ccs_transfer.staging")
    saved = (package_logger.handlers[:], package_logger.level, package_logger.propagate, staging_logger.level)
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(level)
    package_logger.propagate = False
    try:
        yield
    finally:
        package_logger.handlers[:], level, package_logger.propagate, staging_level = saved
        package_logger.setLevel(level)
        staging_logger.setLevel(staging_level)


def _tolerate_unencodable_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure: Callable | None = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Run ``ccs-transfer`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    _tolerate_unencodable_output()
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        with _package_logging(getattr(arguments, "debug", False), getattr(arguments, "verbose", False)):
            return arguments.handler(arguments)
    except UsageError as error:
        command_parser = getattr(arguments, "parser", parser)
        command_parser.print_usage(sys.stderr)
        print(f"{command_parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except EditionError as error:
        if getattr(arguments, "debug", False):
            raise
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (for example `| head`); Python's docs advise
        # pointing stdout at devnull so that the interpreter's final flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001  The one place that turns an unexpected failure into one line.
        if getattr(arguments, "debug", False):
            raise
        print(
            f"error: unexpected {type(error).__name__}: {_one_line(error)}. "
            "Run the command again with --debug to see the traceback, and report it.",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
