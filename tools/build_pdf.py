"""``make pdf``: build the PDF edition through Sphinx's LaTeX builder and XeLaTeX.

The PDF is built from the same executed pages as the HTML site. The model,
data and settings of this checkout give the same build fingerprint as
``make book``, so MyST-NB reads every page from that fingerprint's execution
cache. Only a page missing from the cache is executed again.
When ``_build/html/provenance.json`` comes from the same fingerprint, the PDF
takes over its build date, so both formats cite the same build.

The LaTeX settings are applied through a derived copy of ``_config.yml``
(``latex_engine: xelatex``, ``use_jupyterbook_latex: false`` and the file
name); settings in the project's own ``latex:`` section win. XeLaTeX typesets
any character that the FreeFont fonts cover. The Jupyter Book LaTeX class
is left out because it needs ``bbm.sty``, which Debian ships only in the
1.4 GB ``texlive-fonts-extra`` package.

The result is ``_build/pdf/<title>-<version>.pdf``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Sphinx sorts the index with xindy when the engine is XeLaTeX.
REQUIRED_COMMANDS = ("latexmk", "xelatex", "xindy")
TEX_PACKAGES = (
    "texlive-latex-recommended",
    "texlive-latex-extra",
    "texlive-fonts-recommended",
    "texlive-xetex",
    "latexmk",
    "xindy",
    "fonts-freefont-otf",
    "tex-gyre",
)


# Limitation: cells tagged hide-input print in full in the PDF, since paper has no collapsed state.


class PdfBuildError(Exception):
    """The PDF cannot be built; the message names the cause and the fix."""


def check_tex() -> None:
    missing = [command for command in REQUIRED_COMMANDS if shutil.which(command) is None]
    if missing:
        raise PdfBuildError(
            f"{', '.join(missing)} not found. Fix: run `make pdf` as root, which installs them, or run "
            f"`apt-get install -y --no-install-recommends {' '.join(TEX_PACKAGES)}`."
        )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "edition"


def derived_config(source: Path, target_name: str) -> dict:
    """Return the project's Jupyter Book config with the LaTeX settings of the PDF edition added."""
    config_path = source / "_config.yml"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PdfBuildError(f"{config_path} cannot be read ({error}). Fix: restore a valid _config.yml.") from None
    latex = dict(config.get("latex") or {})
    latex.setdefault("latex_engine", "xelatex")
    latex.setdefault("use_jupyterbook_latex", False)
    documents = dict(latex.get("latex_documents") or {})
    documents.setdefault("targetname", f"{target_name}.tex")
    latex["latex_documents"] = documents
    config["latex"] = latex
    return config


def html_build_date(build_dir: Path, fingerprint: str) -> str | None:
    """Return the build date of the HTML site when it was built from ``fingerprint``."""
    path = build_dir / "html" / "provenance.json"
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if provenance.get("fingerprint") == fingerprint:
        return provenance.get("built_at")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/build_pdf.py", description="Build the PDF edition into _build/pdf.")
    parser.add_argument("--source", type=Path, default=REPOSITORY_ROOT, help="book root folder (with _config.yml)")
    arguments = parser.parse_args(argv)

    from ccs_transfer import __version__
    from ccs_transfer.build import build_fingerprint
    from ccs_transfer.errors import EditionError
    from ccs_transfer.provenance import BUILD_DATE_VARIABLE, FINGERPRINT_VARIABLE
    from ccs_transfer.settings import current_settings

    try:
        check_tex()
        settings = current_settings()
        from ccs_transfer.edition import prepare

        print(f"Preparing model {settings.model} to find this build's execution cache.", flush=True)
        edition = prepare(settings, progress=False)
        fingerprint = build_fingerprint(settings, edition)
        config = yaml.safe_load((arguments.source / "_config.yml").read_text(encoding="utf-8")) or {}
        name = f"{slug(str(config.get('title', 'edition')))}-{__version__}"
        pdf_config = derived_config(arguments.source, name)
    except (EditionError, PdfBuildError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    staging = settings.build_dir / ".staging-pdf"
    # latexmk builds every .tex file in the folder, so a stale one from an
    # earlier title would be built (and could fail) too.
    shutil.rmtree(staging / "_build" / "latex", ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    config_path = staging / "_config.pdf.yml"
    config_path.write_text(yaml.safe_dump(pdf_config, sort_keys=False), encoding="utf-8")

    environment = dict(os.environ)
    environment[FINGERPRINT_VARIABLE] = fingerprint
    date = html_build_date(settings.build_dir, fingerprint)
    if date:
        environment[BUILD_DATE_VARIABLE] = date
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(arguments.source),
        "--builder",
        "pdflatex",
        "--config",
        str(config_path),
        "--path-output",
        str(staging),
        "-W",
        "--keep-going",
    ]
    print("Running " + " ".join(command), flush=True)
    status = subprocess.call(command, env=environment)
    built = staging / "_build" / "latex" / f"{name}.pdf"
    if status != 0 or not built.is_file():
        print(
            f"error: the PDF build failed (exit {status}). Fix: see the messages above; LaTeX's own log is "
            f"{staging / '_build' / 'latex' / (name + '.log')}.",
            file=sys.stderr,
        )
        return 1
    target = settings.build_dir / "pdf" / built.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, target)
    print(f"Built {target} (fingerprint {fingerprint}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
