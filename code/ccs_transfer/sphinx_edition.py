"""Sphinx extension tying the book build to the edition's settings.

- The execution cache of MyST-NB is kept per build fingerprint (model, data,
  seed, epochs and package code), so ``make book MODEL=...`` never serves
  outputs cached for another model, and switching back reuses them.
- Figures drawn by ``ccs_transfer.figures`` carry their alt text in a PNG
  text chunk. It is copied onto the ``<img>`` of every image node that has no
  alt text of its own.
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


def _png_alt_text(path: Path) -> str | None:
    from PIL import Image

    from .figures import PNG_ALT_KEY

    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(PNG_ALT_KEY)
    except (OSError, ValueError):
        return None


def _apply_figure_alt_text(app, doctree, docname) -> None:
    from docutils import nodes

    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if image.get("alt") or not uri.lower().endswith(".png"):
            continue
        candidates = [Path(uri), Path(app.srcdir) / uri, Path(app.srcdir) / Path(docname).parent / uri]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        alt = _png_alt_text(path) if path else None
        if alt:
            image["alt"] = alt


def _write_provenance(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    folder = records_folder(current_settings())
    merged = merge_records(folder) if folder.is_dir() else {"pages": {}}
    # Records of pages that are no longer in the book stay on disk; leave them out.
    built = set(app.env.found_docs)
    stale = [page for page in merged["pages"] if page not in built and f"book/{page}" not in built]
    for page in stale:
        del merged["pages"][page]
        merged.get("results", {}).pop(page, None)
    target = Path(app.outdir) / "provenance.json"
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, target)


def setup(app):
    app.connect("config-inited", _use_fingerprint_cache, priority=100)
    app.connect("doctree-resolved", _apply_figure_alt_text)
    app.connect("build-finished", _write_provenance)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
