import json
from importlib import metadata

import pytest

from ccs_transfer import __version__, provenance
from ccs_transfer.datasets import grace_hopper_copies
from ccs_transfer.integrity import sha256_file
from ccs_transfer.labels import imagenet1k


@pytest.fixture(scope="module")
def lite0_edition(tmp_path_factory, shared_cache_dir):
    from ccs_transfer.edition import open_edition
    from ccs_transfer.settings import Settings

    settings = Settings(cache_dir=shared_cache_dir, build_dir=tmp_path_factory.mktemp("build"), allow_network=False)
    return open_edition(settings)


@pytest.mark.slow
def test_page_record_fields_are_correct(lite0_edition, monkeypatch):
    monkeypatch.setenv(provenance.BUILD_DATE_VARIABLE, "2026-01-02")
    copies = grace_hopper_copies(lite0_edition.settings)
    record = provenance.page_record("tutorial/classifier", lite0_edition, photos=copies, results={"answer": 42})

    from ccs_transfer.embedded import weights_path_for

    assert record["model"]["id"] == "efficientnet_lite0"
    assert record["model"]["weights_sha256"] == sha256_file(weights_path_for("efficientnet_lite0"))
    assert record["model"]["classifier_handle"] == "embedded:efficientnet_lite0/classification"
    assert record["labels"]["name"] == "imagenet1k"
    assert record["labels"]["size"] == 1000
    assert record["labels"]["sha256"] == imagenet1k().source_sha256
    assert record["photos"][0]["sha256"] == "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"
    assert record["libraries"]["tensorflow"] == metadata.version("tensorflow")
    assert record["libraries"]["tensorflow-hub"] == "0.16.1"
    assert record["seed"] == 123
    assert record["epochs"] == 10
    assert record["build_date"] == "2026-01-02"
    assert record["edition_version"] == __version__
    assert record["results"] == {"answer": 42}


@pytest.mark.slow
def test_records_merge_into_provenance_json(lite0_edition, monkeypatch):
    monkeypatch.setenv(provenance.FINGERPRINT_VARIABLE, "test-fingerprint")
    monkeypatch.setenv(provenance.BUILD_DATE_VARIABLE, "2026-01-02")
    settings = lite0_edition.settings
    provenance.write_page_record(provenance.page_record("tutorial/classifier", lite0_edition, results={"top1": "military uniform"}), settings)
    provenance.write_page_record(provenance.page_record("tutorial/transfer", lite0_edition, results={"validation_accuracy": 0.9}), settings)

    folder = provenance.records_folder(settings)
    assert folder.name == "test-fingerprint"
    merged = provenance.merge_records(folder)
    assert sorted(merged["pages"]) == ["tutorial/classifier", "tutorial/transfer"]
    assert merged["model"]["weights_sha256"] == lite0_edition.classifier.sha256
    assert merged["results"]["tutorial/transfer"] == {"validation_accuracy": 0.9}
    assert merged["built_at"] == "2026-01-02"
    json.dumps(merged)


@pytest.mark.slow
def test_provenance_box_names_model_and_hashes(lite0_edition):
    record = provenance.page_record("tutorial/classifier", lite0_edition, photos=grace_hopper_copies(lite0_edition.settings))
    box = provenance.provenance_markdown(record)
    assert box.startswith(":::{admonition} Provenance")
    assert lite0_edition.classifier.sha256 in box
    assert "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130" in box
    assert "Seed:** 123" in box


def test_build_date_defaults_to_today(monkeypatch):
    monkeypatch.delenv(provenance.BUILD_DATE_VARIABLE, raising=False)
    import datetime

    assert provenance.build_date() == datetime.datetime.now(datetime.timezone.utc).date().isoformat()
