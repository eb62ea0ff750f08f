"""Tests of the static site checks (tools/site_static.py) and of the apparatus extension's output.

The checks are first run on small HTML pages with one deliberate fault each,
so they cannot pass by finding nothing; then on a fixture book built with the
apparatus extension; then on the real build in _build/html when it exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from ccs_transfer import __version__
from ccs_transfer.settings import REPOSITORY_ROOT

sys.path.insert(0, str(REPOSITORY_ROOT / "tools"))

from site_static import Finding, check_page, check_site, css_findings, is_external  # noqa: E402

BUILT_SITE = REPOSITORY_ROOT / "_build" / "html"
VERSION_LABEL = '<span class="apparatus-edition-version">version 0.1.0</span>'
CLEAN_BODY = """
<section id="intro">
  <h1>Intro<a class="headerlink" href="#intro">#</a></h1>
  <section id="method">
    <h2>Method<a class="headerlink" href="#method">#</a></h2>
    <figure id="fig-accuracy">
      <img src="../_images/accuracy.png" alt="Validation accuracy rises over ten epochs.">
      <figcaption><p>Accuracy.<a class="headerlink" href="#fig-accuracy">#</a></p></figcaption>
    </figure>
    <div class="cell_output">
      <figure id="fig-output"><img src="out.png" alt="A bar chart of five classes.">
      <figcaption><p>Output.<a class="headerlink" href="#fig-output">#</a></p></figcaption></figure>
    </div>
  </section>
</section>
"""


def page(head: str = "", body: str = CLEAN_BODY, label: str = VERSION_LABEL) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Fixture</title>"
        '<link rel="stylesheet" href="../_static/theme.css">'
        '<script src="../_static/theme.js"></script>'
        f"{head}</head><body><header>{label}</header>"
        f'<main><article class="bd-article">{body}</article></main></body></html>'
    )


def rules(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


# ---------------------------------------------------------------------------
# The checker on pages with one fault each

FAULTY_PAGES = {
    "script from a CDN": (page(head='<script src="https://cdn.example.invalid/lib.js"></script>'), "external-script"),
    "protocol-relative script": (page(head='<script src="//cdn.example.invalid/lib.js"></script>'), "external-script"),
    "Google font style sheet": (page(head='<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">'), "external-stylesheet"),
    "preloaded font": (page(head='<link rel="preload" as="font" href="https://cdn.example.invalid/a.woff2">'), "external-link"),
    "remote image": (page(body=CLEAN_BODY + '<img src="https://images.example.invalid/a.png" alt="A photo.">'), "external-media"),
    "remote srcset": (page(body=CLEAN_BODY + '<img src="a.png" srcset="a.png 1x, https://images.example.invalid/a2.png 2x" alt="A photo.">'), "external-media"),
    "remote iframe": (page(body=CLEAN_BODY + '<iframe src="https://player.example.invalid/v" title="video"></iframe>'), "external-media"),
    "@import in style block": (page(head='<style>@import url("https://fonts.googleapis.com/css2?family=Lato");</style>'), "external-css"),
    "url() in style attribute": (page(body=CLEAN_BODY + '<div style="background: url(https://cdn.example.invalid/bg.png)"></div>'), "external-css"),
    "inline script naming a host": (page(head='<script>fetch("https://api.example.invalid/data")</script>'), "inline-script-address"),
    "img without alt": (page(body=CLEAN_BODY + '<img src="a.png">'), "img-alt"),
    "img with empty alt": (page(body=CLEAN_BODY + '<img src="a.png" alt=" ">'), "img-alt"),
    "img with file name alt": (page(body=CLEAN_BODY + '<img src="../_images/abc.png" alt="../_images/abc.png">'), "img-alt"),
    "h3 after h1": (page(body='<section id="a"><h1>A<a class="headerlink" href="#a">#</a></h1><section id="b"><h3>B<a class="headerlink" href="#b">#</a></h3></section></section>'), "heading-order"),
    "first heading h2": (page(body='<section id="a"><h2>A<a class="headerlink" href="#a">#</a></h2></section>'), "heading-order"),
    "heading without permalink": (page(body='<section id="a"><h1>A</h1></section>'), "section-anchor"),
    "generated section id": (page(body='<section id="id3"><h1>A<a class="headerlink" href="#id3">#</a></h1></section>'), "section-anchor"),
    "figure without id": (page(body=CLEAN_BODY + '<figure><img src="b.png" alt="A chart."><figcaption><p>B</p></figcaption></figure>'), "figure-anchor"),
    "figure with generated id": (page(body=CLEAN_BODY + '<figure id="id7"><img src="b.png" alt="A chart."><figcaption><p>B<a class="headerlink" href="#id7">#</a></p></figcaption></figure>'), "figure-anchor"),
    "figure without permalink": (page(body=CLEAN_BODY + '<figure id="fig-b"><img src="b.png" alt="A chart."></figure>'), "figure-anchor"),
    "bare output image": (page(body=CLEAN_BODY + '<div class="cell_output"><img src="plot.png" alt="A line plot."></div>'), "unlabelled-output-image"),
    "no version label": (page(label=""), "edition-version"),
    "wrong version label": (page(label='<span class="apparatus-edition-version">version 0.0.9</span>'), "edition-version"),
}


def test_clean_page_passes():
    assert check_page(page(), "book/clean.html", "0.1.0") == []


@pytest.mark.parametrize("case", sorted(FAULTY_PAGES))
def test_fault_is_found(case):
    html, expected_rule = FAULTY_PAGES[case]

    findings = check_page(html, "book/faulty.html", "0.1.0")

    assert expected_rule in rules(findings), f"{case}: {findings}"


def test_only_the_fault_is_found():
    findings = check_page(page(head='<script src="https://cdn.example.invalid/lib.js"></script>'), "p.html", "0.1.0")

    assert rules(findings) == ["external-script"]
    assert "https://cdn.example.invalid/lib.js" in findings[0].detail


def test_non_fetching_links_pass():
    head = (
        '<link rel="canonical" href="https://edition.example.invalid/book/p.html">'
        '<script type="application/json">{"home": "https://edition.example.invalid/"}</script>'
        '<script type="text/x-thebe-config">{"repo": "https://binder.example.invalid"}</script>'
    )
    body = CLEAN_BODY + '<p><a href="https://www.tensorflow.org/tutorials">tutorial</a></p>'

    assert check_page(page(head=head, body=body), "p.html", "0.1.0") == []


def test_redirect_page_skips_content_rules():
    html = '<html><head><meta http-equiv="Refresh" content="0; url=book/index.html"><title>r</title></head><body></body></html>'

    assert check_page(html, "index.html", "0.1.0") == []


def test_css_file_findings():
    css = (
        '@import "../basic.css";\n'
        "@import url('https://fonts.googleapis.com/css2?family=Lato');\n"
        ".a { background: url(data:image/png;base64,AAAA); }\n"
        ".b { src: url(../webfonts/fa.woff2); }\n"
        ".c { background: url( //cdn.example.invalid/bg.png ); }\n"
    )

    details = [finding.detail for finding in css_findings(css, "_static/x.css")]

    assert details == [
        "@import loads https://fonts.googleapis.com/css2?family=Lato",
        "url() loads https://fonts.googleapis.com/css2?family=Lato",
        "url() loads //cdn.example.invalid/bg.png",
    ]


@pytest.mark.parametrize(
    ("address", "external"),
    [
        ("https://cdn.example.invalid/x.js", True),
        ("//cdn.example.invalid/x.js", True),
        ("http://127.0.0.1:8000/x.js", True),
        ("ftp://files.example.invalid/x", True),
        ("../_static/x.js", False),
        ("_static/x.js?v=1", False),
        ("data:image/png;base64,AAAA", False),
        ("file:///tmp/x.css", False),
        ("", False),
    ],
)
def test_is_external(address, external):
    assert is_external(address) is external


def test_check_site_on_folder(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_sources").mkdir()
    (tmp_path / "book" / "good.html").write_text(page())
    (tmp_path / "book" / "bad.html").write_text(page(head='<script src="https://cdn.example.invalid/lib.js"></script>'))
    (tmp_path / "_static" / "theme.css").write_text("@import url(https://fonts.googleapis.com/css?family=Lato);")
    # Copied page sources are not pages of the site.
    (tmp_path / "_sources" / "copy.html").write_text("<img src=x.png>")

    findings = check_site(tmp_path, "0.1.0")

    assert sorted((finding.page, finding.rule) for finding in findings) == [
        ("_static/theme.css", "external-css"),
        ("_static/theme.css", "external-css"),
        ("book/bad.html", "external-script"),
    ]


def test_check_site_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="make book"):
        check_site(tmp_path / "absent")


def test_cli_exit_status(tmp_path):
    (tmp_path / "bad.html").write_text(page(body=CLEAN_BODY + '<img src="a.png">'))
    script = REPOSITORY_ROOT / "tools" / "site_static.py"

    failed = subprocess.run([sys.executable, str(script), str(tmp_path), "--version", "0.1.0"], capture_output=True, text=True)
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "absent")], capture_output=True, text=True)

    assert failed.returncode == 1
    assert "bad.html: [img-alt]" in failed.stdout
    assert missing.returncode == 2
    assert "make book" in missing.stderr


# ---------------------------------------------------------------------------
# A fixture book built with the apparatus extension

FIXTURE_TOC = """\
format: jb-book
root: book/index
chapters:
  - file: book/tutorial/plot
  - file: book/about/cite
  - file: book/faults
"""
FIXTURE_INDEX = """\
# Fixture edition

Opening text.[^note]

[^note]: A footnote shown as a margin note.

## A section

```{margin}
A margin note.
```
"""
FIXTURE_PLOT = """\
---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# Plot page

## The plot

```{code-cell} python3
:tags: [hide-input]
import matplotlib.pyplot as plt
```

```{code-cell} python3
---
mystnb:
  figure:
    name: fig-line
    caption: A straight line.
  image:
    alt: A straight line rising from the lower left to the upper right.
---
figure, axes = plt.subplots(figsize=(3, 2))
axes.plot([0, 1], [0, 1])
plt.show()
```

```{cite-figure} fig-line
```
"""
FIXTURE_CITE = """\
# How to cite

## The edition

```{edition-citation}
```

## The sources

```{source-citations}
```
"""
# One page with the two faults that the extension reports at build time.
FIXTURE_FAULTS = """\
# Faults

Inline math $x^2$ would need MathJax from a CDN.

```{figure} pixel.png
:alt: One white pixel.
```
"""


def _fixture_config() -> dict:
    config = yaml.safe_load((REPOSITORY_ROOT / "_config.yml").read_text(encoding="utf-8"))
    # Only the apparatus: the provenance extension expects complete page records.
    config.setdefault("sphinx", {})["extra_extensions"] = ["ccs_transfer.sphinx_apparatus"]
    config["sphinx"].setdefault("config", {}).pop("bibtex_bibfiles", None)
    config["execute"]["timeout"] = 120
    return config


@pytest.fixture(scope="module")
def fixture_book(tmp_path_factory):
    """Build the fixture book once; return (site folder, build log)."""
    root = tmp_path_factory.mktemp("fixture-book")
    for relative, text in {
        "_toc.yml": FIXTURE_TOC,
        "book/index.md": FIXTURE_INDEX,
        "book/tutorial/plot.md": FIXTURE_PLOT,
        "book/about/cite.md": FIXTURE_CITE,
        "book/faults.md": FIXTURE_FAULTS,
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    Image.new("RGB", (1, 1), "white").save(root / "book" / "pixel.png")
    (root / "_config.yml").write_text(yaml.safe_dump(_fixture_config(), sort_keys=False), encoding="utf-8")
    shutil.copy(REPOSITORY_ROOT / "CITATION.cff", root / "CITATION.cff")

    build_dir = tmp_path_factory.mktemp("fixture-edition-build")
    records = build_dir / "provenance" / "fixture"
    records.mkdir(parents=True)
    record = {
        "page": "tutorial/plot",
        "model": {"id": "efficientnet_lite0", "weights_sha256": "a" * 64},
        "data": {"collection_sha256": "b" * 64},
        "photos": [{"name": "grace_hopper.jpg", "sha256": "c" * 64}],
    }
    (records / "book__tutorial__plot.json").write_text(json.dumps(record), encoding="utf-8")

    environment = {
        **os.environ,
        "EDITION_BUILD_DIR": str(build_dir),
        "EDITION_FINGERPRINT": "fixture",
        "EDITION_BUILD_DATE": "2027-03-09",
    }
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    completed = subprocess.run(
        [str(jupyter_book), "build", str(root), "--keep-going"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    site = root / "_build" / "html"
    assert (site / "book" / "about" / "cite.html").is_file(), completed.stdout[-3000:] + completed.stderr[-3000:]
    return site, completed.stdout + completed.stderr


@pytest.mark.slow
def test_fixture_book_passes_static_checks(fixture_book):
    site, _ = fixture_book

    findings = [finding for finding in check_site(site, __version__) if finding.page != "book/faults.html"]

    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.slow
def test_fixture_faults_reported_at_build(fixture_book):
    site, log = fixture_book

    assert "would load https://cdn.jsdelivr.net/npm/mathjax" in log
    assert "figure has no label" in log
    faults_page = (site / "book" / "faults.html").read_text(encoding="utf-8")
    assert "mathjax@3" not in faults_page
    assert "figure-anchor" in rules(check_site(site, __version__))


@pytest.mark.slow
def test_fixture_pages_show_version(fixture_book):
    site, _ = fixture_book

    for name in ("book/index.html", "book/tutorial/plot.html", "book/about/cite.html"):
        html = (site / name).read_text(encoding="utf-8")
        assert f"version {__version__}</span>" in html, name
        assert f"Edition version {__version__}, built 2027-03-09." in html, name


@pytest.mark.slow
def test_fixture_cite_page_blocks(fixture_book):
    site, _ = fixture_book
    html = (site / "book" / "about" / "cite.html").read_text(encoding="utf-8")

    for block_id in ("cite-edition-bibtex", "cite-edition-ris", "cite-edition-csl-json", "source-bringman2020codecritique-bibtex", "source-tensorflowtransferlearning-csl-json"):
        assert f'id="{block_id}"' in html, block_id
    assert "highlight-bibtex" in html
    assert "highlight-json" in html
    assert 'href="http://wg20.criticalcodestudies.com/index.php?p=/discussion/72/' in html
    assert 'href="https://www.tensorflow.org/tutorials/images/transfer_learning_with_hub"' in html


@pytest.mark.slow
def test_fixture_cite_figure_line(fixture_book):
    site, _ = fixture_book
    html = (site / "book" / "tutorial" / "plot.html").read_text(encoding="utf-8")
    line = html[html.index('class="apparatus-cite-figure"') :].split("</p>", 1)[0]

    assert 'href="#fig-line"' in line
    assert "Fig. 1" in line
    assert f"version {__version__}, built 2027-03-09" in line
    assert "Model efficientnet_lite0, weights sha256" in line
    assert "a" * 64 in line
    assert "b" * 64 in line
    assert "c" * 64 in line


@pytest.mark.slow
def test_fixture_figure_has_permalink(fixture_book):
    site, _ = fixture_book
    html = (site / "book" / "tutorial" / "plot.html").read_text(encoding="utf-8")

    assert '<figure class="align-default" id="fig-line">' in html
    assert '<a class="headerlink" href="#fig-line"' in html


@pytest.mark.slow
def test_fixture_site_has_no_thebe_or_cdn(fixture_book):
    site, _ = fixture_book

    for path in site.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert "THEBE_JS_URL" not in html, path
        assert "unpkg.com" not in html, path
        assert "cdn.jsdelivr.net" not in html, path


def test_record_matched_by_page_suffix():
    from ccs_transfer.sphinx_apparatus import _record_for_page

    records = [{"page": "tutorial/transfer"}, {"page": "tutorial/classifier"}]

    assert _record_for_page(records, "book/tutorial/classifier") == {"page": "tutorial/classifier"}
    assert _record_for_page(records, "book/tutorial/classifier-extra") is None
    assert _record_for_page([{"page": ""}], "book/index") is None


def test_hash_line_without_record():
    from ccs_transfer.sphinx_apparatus import _hash_nodes

    assert "".join(node.astext() for node in _hash_nodes(None)) == "Model and data hashes: not recorded in this build."
    partial = "".join(node.astext() for node in _hash_nodes({"model": {"id": "m"}}))
    assert partial == "Model weights: not recorded in this build; data: not recorded in this build."


# ---------------------------------------------------------------------------
# The real build


@pytest.mark.skipif(not BUILT_SITE.is_dir(), reason="no built site in _build/html; run `make book`")
def test_built_site_passes():
    findings = check_site(BUILT_SITE, __version__)

    assert findings == [], "\n".join(map(str, findings))
