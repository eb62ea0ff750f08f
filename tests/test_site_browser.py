"""Tests of the browser check (tools/check_site.py) on a small site with deliberate faults.

The site is served on 127.0.0.1 only. Its one outside address uses the
reserved ``.invalid`` top-level domain, and Chromium resolves every host but
127.0.0.1 to nothing, so the request is recorded and never sent.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from ccs_transfer.settings import REPOSITORY_ROOT

sys.path.insert(0, str(REPOSITORY_ROOT / "tools"))

import check_site  # noqa: E402

OUTSIDE_IMAGE = "http://images.example.invalid/photo.png"
BROWSER_MISSING = (
    check_site._first_existing(check_site.CHROMIUM_CANDIDATES, "chromium") is None
    or check_site._first_existing(check_site.CHROMEDRIVER_CANDIDATES, "chromedriver") is None
)

try:
    import selenium  # noqa: F401
except ImportError:
    BROWSER_MISSING = True

needs_browser = pytest.mark.skipif(BROWSER_MISSING, reason="chromium, chromedriver or selenium is missing (make test-site installs them)")

FAULTY_PAGE = f"""<!DOCTYPE html>
<html><head><title>Faulty</title><link rel="stylesheet" href="style.css"></head>
<body>
<h1 id="top">Faulty page</h1>
<p><a href="#top">to the top</a> <a href="#nowhere">broken local anchor</a></p>
<p><a href="clean.html#present">good link</a> <a href="clean.html#absent">broken link</a></p>
<img src="ok.png" alt="A white square.">
<img src="missing.png" alt="A photo that is not there.">
<img src="{OUTSIDE_IMAGE}" alt="A photo on another host.">
<script>throw new Error("deliberate fixture error");</script>
</body></html>
"""
CLEAN_PAGE = """<!DOCTYPE html>
<html><head><title>Clean</title><link rel="stylesheet" href="style.css"><link rel="icon" href="ok.png"></head>
<body><h1 id="present">Clean page</h1><img src="ok.png" alt="A white square."><a href="index.html#top">back</a></body></html>
"""


@pytest.fixture
def fixture_site(tmp_path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(FAULTY_PAGE, encoding="utf-8")
    (site / "clean.html").write_text(CLEAN_PAGE, encoding="utf-8")
    (site / "style.css").write_text("body { font-family: serif; }\n", encoding="utf-8")
    Image.new("RGB", (8, 8), "white").save(site / "ok.png")
    return site


def failures_of(results, page: str) -> list[str]:
    return next(result.failures for result in results if result.page == page)


def test_server_serves_site_on_loopback(fixture_site):
    with check_site.serve_site(fixture_site) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base_url + "clean.html", timeout=10) as response:
            assert response.status == 200
            assert b"Clean page" in response.read()


def test_missing_required_page_listed():
    assert check_site.missing_required(["index.html", "book/tutorial/a.html"], ("index.html", "book/tutorial/*.html", "book/about/cite.html")) == ["book/about/cite.html"]


def test_missing_browser_message(monkeypatch, tmp_path):
    pytest.importorskip("selenium")
    monkeypatch.setattr(check_site, "CHROMIUM_CANDIDATES", ())
    monkeypatch.setattr(check_site.shutil, "which", lambda name: None)

    with pytest.raises(check_site.CheckSetupError, match="apt-get install -y chromium chromium-driver"):
        check_site.start_browser(tmp_path)


def test_missing_site_exit_status(tmp_path, capsys):
    assert check_site.main(["--site", str(tmp_path / "absent"), "--screenshots", str(tmp_path / "shots")]) == 2
    assert "make book" in capsys.readouterr().err


@pytest.mark.slow
@needs_browser
def test_faults_are_found(fixture_site, tmp_path):
    screenshots = tmp_path / "shots"

    results = check_site.run_checks(fixture_site, screenshots, required=("index.html", "book/about/cite.html"), file_pages=("index.html",))
    faulty = failures_of(results, "index.html")

    assert f"request to another host: {OUTSIDE_IMAGE}" in faulty
    assert any(failure.startswith("HTTP 404 for") and failure.endswith("/missing.png") for failure in faulty), faulty
    assert any("image did not render" in failure and failure.endswith("/missing.png") for failure in faulty), faulty
    assert any("image did not render" in failure and OUTSIDE_IMAGE in failure for failure in faulty), faulty
    assert any("anchor link has no target id" in failure and failure.endswith("index.html#nowhere") for failure in faulty), faulty
    assert any("anchor link has no target id" in failure and failure.endswith("clean.html#absent") for failure in faulty), faulty
    assert any("console error" in failure and "deliberate fixture error" in failure for failure in faulty), faulty
    assert not any("#top" in failure or "#present" in failure for failure in faulty), faulty


@pytest.mark.slow
@needs_browser
def test_clean_page_passes(fixture_site, tmp_path):
    results = check_site.run_checks(fixture_site, tmp_path / "shots", required=("clean.html",), pages=["clean.html"], file_pages=())

    assert [result.page for result in results] == ["clean.html"]
    assert results[0].failures == []
    assert results[0].images == 1
    assert (tmp_path / "shots" / "clean.png").stat().st_size > 0


@pytest.mark.slow
@needs_browser
def test_required_page_and_file_url(fixture_site, tmp_path):
    results = check_site.run_checks(fixture_site, None, required=("book/about/cite.html",), pages=["clean.html"], file_pages=("index.html", "clean.html"))

    assert failures_of(results, "book/about/cite.html") == [f"required page book/about/cite.html is missing from {fixture_site.resolve()}"]
    file_failures = failures_of(results, "file://index.html")
    assert f"request to another host: {OUTSIDE_IMAGE}" in file_failures
    assert any("anchor link has no target id" in failure and failure.endswith("index.html#nowhere") for failure in file_failures), file_failures
    assert any("image did not render" in failure and failure.endswith("/missing.png") for failure in file_failures), file_failures
    assert failures_of(results, "file://clean.html") == []


@pytest.mark.slow
@needs_browser
def test_cli_report(fixture_site, tmp_path, capsys):
    screenshots = tmp_path / "shots"

    status = check_site.main(["--site", str(fixture_site), "--screenshots", str(screenshots), "--require", "index.html"])

    output = capsys.readouterr().out
    assert status == 1
    assert "FAIL index.html" in output
    assert "ok   clean.html" in output
    assert "check_site: 1 passed, 1 failed" in output
    assert (screenshots / "report.json").is_file()
    assert (screenshots / "index.png").stat().st_size > 0
