import os

import pytest

from ccs_transfer.datasets import grace_hopper_copies, load_flower_collection, split_train_validation
from ccs_transfer.errors import DataDirectoryError, IntegrityError, SettingsError
from ccs_transfer.settings import Settings

from PIL import Image

import small_mirror


make_mirror = small_mirror.write_mirror


def test_settings_defaults_and_parsing():
    settings = Settings.from_environment({"EDITION_EPOCHS": "3", "EDITION_MODEL": "efficientnet_lite1", "EDITION_ALLOW_NETWORK": "0"})
    assert settings.epochs == 3
    assert settings.model == "efficientnet_lite1"
    assert settings.allow_network is False
    assert Settings.from_environment({}).epochs == 10


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("EDITION_EPOCHS", "ten", "EDITION_EPOCHS='ten' is not a whole number"),
        ("EDITION_EPOCHS", "0", "EDITION_EPOCHS=0 is below the minimum of 1"),
        ("EDITION_ALLOW_NETWORK", "maybe", "EDITION_ALLOW_NETWORK='maybe' is not a boolean"),
        ("EDITION_MODEL", "two words", "is not a model id"),
    ],
)
def test_settings_reject_wrong_values(variable, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_environment({variable: value})


def test_no_data_directory_and_no_network(tmp_path):
    settings = Settings(data_dir=None, allow_network=False, cache_dir=tmp_path)
    with pytest.raises(DataDirectoryError, match="No data directory is set .*EDITION_DATA_DIR.* network is off") as raised:
        load_flower_collection(settings)
    assert "flower_photos/<class>/\\*.jpg" in str(raised.value) or "flower_photos/<class>/*.jpg" in str(raised.value)


def test_missing_data_directory_named(tmp_path):
    with pytest.raises(DataDirectoryError, match="does not exist"):
        load_flower_collection(Settings(data_dir=tmp_path / "nope", cache_dir=tmp_path))


def test_small_mirror_loads_and_verifies(tmp_path):
    collection = load_flower_collection(Settings(data_dir=make_mirror(tmp_path), cache_dir=tmp_path))
    assert collection.class_names == ("cats", "dogs")
    assert collection.counts() == {"cats": 5, "dogs": 5}
    assert collection.manifest_verified is True


def test_manifest_mismatch_names_file(tmp_path):
    mirror = make_mirror(tmp_path)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(mirror / "flower_photos" / "dogs" / "3.jpg")
    with pytest.raises(IntegrityError, match="dogs/3.jpg"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_unlisted_photo_rejected(tmp_path):
    mirror = make_mirror(tmp_path)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(mirror / "flower_photos" / "dogs" / "extra.jpg")
    with pytest.raises(IntegrityError, match="not in the manifest: dogs/extra.jpg"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_symlink_outside_mirror_rejected(tmp_path):
    mirror = make_mirror(tmp_path / "mirror")
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    os.symlink(outside, mirror / "flower_photos" / "cats" / "link.jpg")
    with pytest.raises(DataDirectoryError, match="symbolic link .* outside the data directory"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_split_is_seeded_and_disjoint(tmp_path):
    collection = load_flower_collection(Settings(data_dir=make_mirror(tmp_path, per_class=10), cache_dir=tmp_path))
    train, validation = split_train_validation(collection, 0.2, seed=7)
    again, _ = split_train_validation(collection, 0.2, seed=7)
    other, _ = split_train_validation(collection, 0.2, seed=8)
    assert len(train) == 16
    assert len(validation) == 4
    assert not {p.relative_path for p in train} & {p.relative_path for p in validation}
    assert [p.relative_path for p in train] == [p.relative_path for p in again]
    assert [p.relative_path for p in train] != [p.relative_path for p in other]


def test_real_mirror_counts(data_mirror, tmp_path):
    collection = load_flower_collection(Settings(data_dir=data_mirror, cache_dir=tmp_path))
    assert collection.counts() == {"daisy": 742, "dandelion": 1016, "roses": 759, "sunflowers": 694, "tulips": 853}
    assert collection.manifest_verified is True
    train, validation = split_train_validation(collection, 0.2, seed=123)
    assert (len(train), len(validation)) == (3251, 813)


def test_grace_hopper_copies(data_mirror, tmp_path):
    copies = grace_hopper_copies(Settings(data_dir=data_mirror, cache_dir=tmp_path))
    assert [c.name for c in copies] == ["matplotlib", "tutorial"]
    assert copies[0].sha256 == "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"
    assert copies[1].sha256 == "e25eff3a01f40278ab93e74207892707fa5be871a2b16f23ba5e42a9738804f2"


def test_folder_named_like_photo_rejected(tmp_path):
    mirror = make_mirror(tmp_path)
    (mirror / "flower_photos" / "cats" / "odd.jpg").mkdir()
    with pytest.raises(DataDirectoryError, match="odd.jpg has a photo's name but is not a file"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_unreadable_photo_named(tmp_path, monkeypatch):
    mirror = make_mirror(tmp_path)
    import ccs_transfer.datasets as datasets_module

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(datasets_module, "sha256_file", refuse)
    with pytest.raises(DataDirectoryError, match="Cannot read the photo .*0.jpg: Permission denied"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_publish_restores_site_after_killed_swap(tmp_path):
    from ccs_transfer.build import publish

    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "index.html").write_text("new")
    target = tmp_path / "html"
    outgoing = tmp_path / "html.outgoing"
    outgoing.mkdir()
    (outgoing / "index.html").write_text("last good")
    publish(staged, target)
    assert (target / "index.html").read_text() == "new"
    assert not outgoing.exists()


def test_manifest_photo_missing_named(tmp_path):
    mirror = make_mirror(tmp_path)
    (mirror / "flower_photos" / "dogs" / "4.jpg").unlink()
    with pytest.raises(IntegrityError, match="listed in the manifest are missing: dogs/4.jpg"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_too_few_photos_per_class(tmp_path):
    mirror = make_mirror(tmp_path, per_class=4)
    collection = load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))
    with pytest.raises(DataDirectoryError, match=r"Too few photos .*cats \(4\), dogs \(4\).*at least 5"):
        split_train_validation(collection)


def test_data_directory_that_is_a_file(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    with pytest.raises(DataDirectoryError, match="is a file, not a folder"):
        load_flower_collection(Settings(data_dir=not_a_folder, cache_dir=tmp_path))
