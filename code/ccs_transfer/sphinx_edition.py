"""Sphinx extension tying the book build to the edition's settings.

- The execution cache of MyST-NB is kept per build fingerprint (model, data,
  seed, epochs and package code), so ``make book MODEL=...`` never serves
  outputs cached for another model, and switching back reuses them.
- When the build succeeds, the page provenance records of this fingerprint are
  merged into ``provenance.json`` at the root of the HTML output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .provenance import build_fingerprint, merge_records, records_folder
from .settings import current_settings


def _use_fingerprint_cache(app, config) -> None:
    settings = current_settings()
    config.nb_execution_cache_path = str(settings.build_dir / ".jupyter_cache" / build_fingerprint())


def _write_provenance(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    folder = records_folder(current_settings())
    merged = merge_records(folder) if folder.is_dir() else {"pages": {}}
    target = Path(app.outdir) / "provenance.json"
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, target)


def setup(app):
    app.connect("config-inited", _use_fingerprint_cache, priority=100)
    app.connect("build-finished", _write_provenance)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
