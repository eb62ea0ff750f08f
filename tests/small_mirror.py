"""A small data mirror for tests: two classes of distinct 8x8 photos with a sha256 manifest."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ccs_transfer.integrity import sha256_file


def write_mirror(root: Path, per_class: int = 5) -> Path:
    """Write ``flower_photos/{cats,dogs}/<n>.jpg`` and ``flower_photos.sha256`` below ``root``."""
    lines = []
    for class_index, name in enumerate(["cats", "dogs"]):
        folder = root / "flower_photos" / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            path = folder / f"{index}.jpg"
            Image.new("RGB", (8, 8), (class_index * 100, index * 20, 0)).save(path)
            lines.append(f"{sha256_file(path)}  ./{name}/{index}.jpg\n")
    (root / "flower_photos.sha256").write_text("".join(lines))
    return root
