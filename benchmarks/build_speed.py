"""Time a cold book build, a rebuild with nothing changed, and feature-extraction throughput.

Run from the repository root with the venv present:

    EDITION_DATA_DIR=../shared/data .venv/bin/python benchmarks/build_speed.py

The cold build uses a fresh cache and build folder (so the embedded model is
converted and every page executed); the rebuild repeats it unchanged. The
throughput is measured separately on a fresh cache over ``--photos`` flower
photos. Times are wall-clock seconds on whatever machine runs the script. The
targets it prints are the edition's: cold under 300 s and rebuild under 30 s
on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
COLD_TARGET_SECONDS = 300
REBUILD_TARGET_SECONDS = 30


def timed_build(environment: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "ccs_transfer.build"], cwd=REPOSITORY, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"the build failed with exit {completed.returncode}")
    return elapsed


def feature_throughput(photo_count: int, cache_dir: Path) -> float:
    from ccs_transfer.edition import open_edition
    from ccs_transfer.settings import current_settings

    edition = open_edition(current_settings(cache_dir=cache_dir))
    photos = list(edition.flowers.photos[:photo_count])
    edition.flower_feature_vectors(photos[:edition.settings.batch_size], progress=False)  # warm-up batch
    start = time.perf_counter()
    edition.flower_feature_vectors(photos[edition.settings.batch_size:], progress=False)
    return (len(photos) - edition.settings.batch_size) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=512, help="photos for the throughput measurement")
    parser.add_argument("--skip-builds", action="store_true", help="measure only the throughput")
    arguments = parser.parse_args()
    if not os.environ.get("EDITION_DATA_DIR"):
        raise SystemExit("set EDITION_DATA_DIR to the local data mirror first")

    with tempfile.TemporaryDirectory(prefix="edition-bench-") as scratch:
        scratch_path = Path(scratch)
        throughput = feature_throughput(arguments.photos, scratch_path / "throughput-cache")
        print(f"feature extraction: {throughput:.1f} photos/s ({arguments.photos} photos, fresh cache)")
        if arguments.skip_builds:
            return 0
        environment = dict(os.environ)
        environment.update(
            EDITION_CACHE_DIR=str(scratch_path / "cache"),
            EDITION_BUILD_DIR=str(scratch_path / "build"),
            EDITION_ALLOW_NETWORK=environment.get("EDITION_ALLOW_NETWORK", "0"),
        )
        cold = timed_build(environment)
        print(f"cold build (empty caches): {cold:.1f} s (target < {COLD_TARGET_SECONDS} s)")
        rebuild = timed_build(environment)
        print(f"rebuild, nothing changed:  {rebuild:.1f} s (target < {REBUILD_TARGET_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
