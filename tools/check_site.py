"""Check the built site in headless Chromium, served on 127.0.0.1 and opened from file://.

For every page checked the browser must show that:

- the page loads (HTTP 200) and has a title;
- the console shows no error (Chromium's SEVERE level);
- every request goes to the loopback server (or data:/blob:), and none fails;
- every ``<img>`` has decoded (``naturalWidth > 0``);
- every ``a[href*="#"]`` pointing into the site names an element id that
  exists on its target page.

It also opens the home page and the cite page from ``file://`` and runs the
same checks there, with file:// in place of the loopback server.
Screenshots of every page go to ``--screenshots`` (default
``_build/screenshots``), with ``report.json`` listing every failure.

Chromium is started with ``--host-resolver-rules`` that resolve every name
except 127.0.0.1 to nothing, so a request to another host is recorded but
never leaves the machine.

Drives Debian's ``chromium`` and ``chromium-driver`` through Selenium
(pinned in requirements-dev.txt). Exit status: 0 when every check passes, 1
when a check fails, 2 when the check cannot run (no site, no browser).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fnmatch
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urldefrag, urlsplit

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SITE = REPOSITORY_ROOT / "_build" / "html"
DEFAULT_SCREENSHOTS = REPOSITORY_ROOT / "_build" / "screenshots"
# Pages every build of the edition must have; each entry is a glob that must match at least one page.
DEFAULT_REQUIRED = ("index.html", "book/index.html", "book/about/cite.html", "book/tutorial/*.html")
FILE_URL_PAGES = ("book/index.html", "book/about/cite.html")
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
LOCAL_SCHEMES = {"data", "blob", "about"}
WINDOW_SIZE = (1280, 900)
# Limitation: screenshots stop at this height (CSS pixels), so the end of a longer page is not captured.
MAX_SCREENSHOT_HEIGHT = 8000
PAGE_LOAD_TIMEOUT_SECONDS = 30
IMAGE_WAIT_MILLISECONDS = 10_000

INSTALL_HINT = "install Debian's packages as root: apt-get update && apt-get install -y chromium chromium-driver"


class CheckSetupError(Exception):
    """The check cannot start: no site, no browser, no driver or no Selenium."""


@dataclass
class PageResult:
    """Observations of the browser on one page, with the failures found there."""

    page: str
    url: str
    title: str = ""
    status: int | None = None
    requests: int = 0
    images: int = 0
    anchors: int = 0
    seconds: float = 0.0
    screenshot: str = ""
    failures: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Loopback server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


@contextlib.contextmanager
def serve_site(site: Path) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 on a free port; yield the base URL ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------
# Browser


def _first_existing(candidates: tuple[str, ...], name: str) -> str | None:
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    return shutil.which(name)


def start_browser(user_data_dir: Path):
    """Start headless Chromium through chromedriver, with performance and console logging."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise CheckSetupError("the selenium package is not installed; run `make venv` (it installs requirements-dev.txt).") from None
    chromium = _first_existing(CHROMIUM_CANDIDATES, "chromium")
    chromedriver = _first_existing(CHROMEDRIVER_CANDIDATES, "chromedriver")
    if chromium is None:
        raise CheckSetupError(f"chromium was not found; {INSTALL_HINT}.")
    if chromedriver is None:
        raise CheckSetupError(f"chromedriver was not found; {INSTALL_HINT}.")

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        # Every host name but the loopback address resolves to nothing, so a
        # request to another host fails inside the browser.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        # file:// pages may read their neighbours, as a reader's browser lets them.
        "--allow-file-access-from-files",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})

    service = Service(executable_path=chromedriver)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception as error:  # Selenium raises several unrelated types for a failed start.
        raise CheckSetupError(f"chromium failed to start through {chromedriver}: {str(error).splitlines()[0]}") from None

    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    driver.execute_cdp_cmd("Network.enable", {})
    # Always fetch from the server, so that every page's requests are seen.
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return driver


def _network_events(driver) -> list[dict]:
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method", "").startswith("Network."):
            events.append(message)
    return events


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def _is_allowed_request(url: str, base_url: str | None) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    if base_url is None:
        return parts.scheme == "file"
    return url.startswith(base_url)


def _request_failures(events: list[dict], base_url: str | None) -> tuple[int, list[str], int | None, str]:
    """Return (request count, failures, status of the page document, its URL) from network events."""
    failures = []
    urls: dict[str, str] = {}
    document_status = None
    document_url = ""
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if not _is_allowed_request(url, base_url):
                failures.append(f"request to another host: {url}")
        elif method == "Network.responseReceived":
            response = params["response"]
            if params.get("type") == "Document" and document_status is None:
                document_status = response.get("status")
                document_url = response.get("url", "")
            status = response.get("status") or 0
            if status >= 400:
                failures.append(f"HTTP {status} for {response.get('url')}")
        elif method == "Network.loadingFailed":
            url = urls.get(params.get("requestId"), "?")
            # A blocked outside request is already reported above.
            if _is_allowed_request(url, base_url) and not params.get("canceled"):
                failures.append(f"loading failed ({params.get('errorText', 'unknown error')}): {url}")
    return len(urls), failures, document_status, document_url


_IMAGES_SCRIPT = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((image) => { image.loading = "eager"; });
const waits = images.map((image) => image.complete ? Promise.resolve() :
  new Promise((resolve) => { image.addEventListener("load", resolve); image.addEventListener("error", resolve); }));
const timeout = new Promise((resolve) => setTimeout(resolve, arguments[0]));
Promise.race([Promise.all(waits), timeout]).then(() => done(images.map((image) => ({
  src: image.currentSrc || image.src, width: image.naturalWidth, complete: image.complete }))));
"""

_ANCHORS_SCRIPT = """
return Array.from(document.querySelectorAll('a[href*="#"]')).map((link) => link.href);
"""

_IDS_SCRIPT = """
const ids = Array.from(document.querySelectorAll("[id]")).map((element) => element.id);
const names = Array.from(document.querySelectorAll("a[name]")).map((element) => element.getAttribute("name"));
return ids.concat(names);
"""


def _page_of(url: str) -> str:
    """Return ``url`` without its fragment, with ``/`` read as ``/index.html``."""
    address = urldefrag(url)[0]
    return address + "index.html" if address.endswith("/") else address


def _save_screenshot(driver, target: Path) -> None:
    """Save the whole page as PNG: the viewport is made as tall as the page, then restored."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics.get("contentSize")
    height = max(WINDOW_SIZE[1], min(int(size["height"]), MAX_SCREENSHOT_HEIGHT))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WINDOW_SIZE[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(shot["data"]))


class SiteChecker:
    """Visit pages in one browser session and collect what fails on each."""

    def __init__(self, driver, base_url: str | None, screenshots: Path | None):
        self.driver = driver
        self.base_url = base_url
        self.screenshots = screenshots
        self._ids: dict[str, set[str]] = {}

    def _open(self, url: str, result: PageResult) -> list[dict]:
        _network_events(self.driver)
        _console_errors(self.driver)
        try:
            self.driver.get(url)
        except Exception as error:  # a timeout or a crashed tab; either way the page did not load
            result.failures.append(f"page did not load: {str(error).splitlines()[0]}")
            return []
        # Give late scripts (deferred theme code) a moment to log their errors.
        time.sleep(0.3)
        return _network_events(self.driver)

    def _ids_of(self, page_url: str) -> set[str]:
        if page_url not in self._ids:
            self.driver.get(page_url)
            self._ids[page_url] = set(self.driver.execute_script(_IDS_SCRIPT))
        return self._ids[page_url]

    def check(self, page: str, url: str) -> PageResult:
        """Open ``url`` and run every check on it; ``page`` names it in the report and screenshot."""
        result = PageResult(page=page, url=url)
        started = time.monotonic()
        events = self._open(url, result)
        if result.failures:
            return result
        result.requests, network_failures, result.status, _ = _request_failures(events, self.base_url)
        result.failures += network_failures
        if self.base_url is not None and result.status != 200:
            result.failures.append(f"page answered HTTP {result.status}, expected 200")
        result.title = self.driver.title
        if not result.title.strip():
            result.failures.append("page has an empty <title>")
        result.failures += [f"console error: {message}" for message in _console_errors(self.driver)]
        if not self.driver.execute_script("return document.styleSheets.length;"):
            result.failures.append("no style sheet was applied")

        images = self.driver.execute_async_script(_IMAGES_SCRIPT, IMAGE_WAIT_MILLISECONDS)
        result.images = len(images)
        for image in images:
            if not image["width"]:
                result.failures.append(f"image did not render (naturalWidth 0): {image['src']}")

        if self.screenshots is not None:
            name = page.replace("file://", "file__").replace("/", "__").removesuffix(".html")
            target = self.screenshots / f"{name}.png"
            _save_screenshot(self.driver, target)
            result.screenshot = str(target)

        result.failures += self._anchor_failures(result)
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _anchor_failures(self, result: PageResult) -> list[str]:
        """Check every in-site ``#`` link of the open page against the ids of its target page."""
        failures = []
        own_ids = set(self.driver.execute_script(_IDS_SCRIPT))
        current = _page_of(self.driver.current_url)
        self._ids[current] = own_ids
        prefix = self.base_url if self.base_url is not None else "file:"
        in_site = [href for href in self.driver.execute_script(_ANCHORS_SCRIPT) if href.startswith(prefix)]
        result.anchors = len(in_site)
        for href in sorted(set(in_site)):
            target_page, fragment = urldefrag(href)
            fragment = unquote(fragment)
            if not fragment:
                continue
            target_page = _page_of(target_page)
            if target_page != current and target_page.startswith("file:") and not Path(unquote(urlsplit(target_page).path)).is_file():
                failures.append(f"link target page does not exist: {href}")
                continue
            ids = own_ids if target_page == current else self._ids_of(target_page)
            if fragment not in ids:
                failures.append(f"anchor link has no target id: {href}")
        return failures


# ---------------------------------------------------------------------------
# The whole run


def discover_pages(site: Path) -> list[str]:
    """List the site's HTML pages (relative paths), leaving out copied sources and assets."""
    skipped = {"_sources", "_static", "_images", "_downloads", ".doctrees"}
    pages = []
    for path in sorted(site.rglob("*.html")):
        relative = path.relative_to(site)
        if not skipped & set(relative.parts[:-1]):
            pages.append(relative.as_posix())
    return pages


def missing_required(pages: list[str], required: tuple[str, ...]) -> list[str]:
    return [pattern for pattern in required if not fnmatch.filter(pages, pattern)]


def run_checks(site: Path, screenshots: Path | None, required: tuple[str, ...], pages: list[str] | None = None, file_pages: tuple[str, ...] = FILE_URL_PAGES) -> list[PageResult]:
    """Serve ``site``, check each page in Chromium, and return one result per page visited."""
    site = site.resolve()
    if not (site / "index.html").is_file() and not pages:
        raise CheckSetupError(f"{site} has no index.html; build the site first with `make book`.")
    all_pages = discover_pages(site)
    pages = pages or all_pages
    results: list[PageResult] = []
    for pattern in missing_required(all_pages, required):
        results.append(PageResult(page=pattern, url="", failures=[f"required page {pattern} is missing from {site}"]))
    if screenshots is not None:
        shutil.rmtree(screenshots, ignore_errors=True)
        screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="site-check-profile-") as profile, serve_site(site) as base_url:
        driver = start_browser(Path(profile))
        try:
            checker = SiteChecker(driver, base_url, screenshots)
            for page in pages:
                results.append(checker.check(page, base_url + page))
            file_checker = SiteChecker(driver, None, screenshots)
            for page in file_pages:
                if (site / page).is_file():
                    results.append(file_checker.check(f"file://{page}", (site / page).as_uri()))
        finally:
            driver.quit()
    return results


def format_report(results: list[PageResult]) -> str:
    lines = []
    for result in results:
        if result.failures:
            lines.append(f"FAIL {result.page}")
            lines += [f"  - {failure}" for failure in result.failures]
        else:
            lines.append(f"ok   {result.page} ({result.requests} requests, {result.images} images, {result.anchors} anchor links, {result.seconds} s)")
    failed = sum(1 for result in results if result.failures)
    problems = sum(len(result.failures) for result in results)
    lines.append(f"check_site: {len(results) - failed} passed, {failed} failed ({problems} problems).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE, help="folder of the built site (default: _build/html)")
    parser.add_argument("--screenshots", type=Path, default=DEFAULT_SCREENSHOTS, help="folder for screenshots and report.json (default: _build/screenshots)")
    parser.add_argument("--page", action="append", dest="pages", help="check only this page (path relative to the site); repeatable")
    parser.add_argument(
        "--require",
        action="append",
        dest="required",
        help="glob of a page that must exist (repeatable; default: index, cite page and tutorial pages of the edition)",
    )
    arguments = parser.parse_args(argv)
    if not arguments.site.is_dir():
        print(f"error: {arguments.site} does not exist. Fix: build the site first with `make book`.", file=sys.stderr)
        return 2
    try:
        results = run_checks(arguments.site, arguments.screenshots, tuple(arguments.required or DEFAULT_REQUIRED), arguments.pages)
    except CheckSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(results))
    arguments.screenshots.mkdir(parents=True, exist_ok=True)
    report = arguments.screenshots / "report.json"
    report.write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n", encoding="utf-8")
    print(f"check_site: screenshots and report.json in {arguments.screenshots}")
    return 1 if any(result.failures for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
