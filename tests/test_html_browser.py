"""The demo's HTML reports opened from disk in a real headless browser (Debian's chromium, driven by
playwright's Python client; no browser is downloaded).

Checks on every page reachable from each index: no console errors or failed page loads, every
relative link points to a file that exists, every image decoded (naturalWidth > 0), and the
tables hold the summary's numbers. A full-page screenshot of each index is saved as a test
artifact (``$SAMBENCH_ARTIFACT_DIR``, default ``test-artifacts/`` in the checkout).

Locally the test skips with the reason when chromium or playwright is absent; under CI
(``SAMBENCH_REQUIRE_BROWSER=1``, set by ``.ci/run``) a missing browser fails.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import REPO, run_cli

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def find_browser():
    """(playwright's sync_playwright, chromium path), or a reason why not."""
    required = os.environ.get("SAMBENCH_REQUIRE_BROWSER") == "1"
    path = os.environ.get("SAMBENCH_CHROMIUM") or next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if path and not Path(path).is_file():
        path = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"playwright (python) is not installed ({exc})"
        sync_playwright = None
    else:
        reason = None if path else "no chromium executable (apt-get install chromium)"
    if reason:
        if required:
            pytest.fail(f"SAMBENCH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright, path


def artifact_dir() -> Path:
    d = Path(os.environ.get("SAMBENCH_ARTIFACT_DIR") or (REPO / "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-html")
    run_cli("demo", "--out", out, "--no-progress", env={"HOME": str(out)}, timeout=1200)
    return out


def visit(context, url: str, errors: list):
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"{url}: console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{url}: page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"{url}: failed to load {r.url}"))
    page.goto(url, wait_until="load")
    return page


def check_site(context, index: Path, errors: list) -> dict:
    """Visit index.html and every local page it links to; returns {page name: page} (left open)."""
    pages, todo = {}, [index]
    while todo:
        path = todo.pop()
        if path.name in pages:
            continue
        page = visit(context, path.as_uri(), errors)
        pages[path.name] = page
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parsed = urlparse(href)
            if parsed.scheme or href.startswith("#"):
                continue
            target = (path.parent / unquote(parsed.path)).resolve()
            assert target.is_file(), f"{path.name}: link {href} points to a missing file"
            if target.suffix == ".html":
                todo.append(target)
        broken = page.eval_on_selector_all("img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0))"
                                                  ".map(e => e.getAttribute('src'))")
        assert not broken, f"{path.name}: images that did not load: {broken}"
    return pages


def table_rows(page) -> list:
    return page.eval_on_selector_all(
        "table", "ts => ts.map(t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.textContent.trim())))")


def test_demo_html_reports_open_in_chromium(demo_reports):
    sync_playwright, chromium = find_browser()
    errors: list = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="sambench-chromium-"),
                                                       executable_path=chromium, headless=True, args=LAUNCH_ARGS)
        try:
            for name in ("report", "compare"):
                index = demo_reports / name / "index.html"
                assert index.is_file(), index
                pages = check_site(context, index, errors)
                assert {"index.html", "runs.html", "gallery.html", "dataset-demo.html"} <= set(pages)
                pages["index.html"].screenshot(path=str(artifact_dir() / f"demo-{name}-index.png"), full_page=True)
                pages["gallery.html"].screenshot(path=str(artifact_dir() / f"demo-{name}-gallery.png"), full_page=True)
                # the dataset page's table holds each run's summary numbers (3 decimals)
                tables = table_rows(pages["dataset-demo.html"])
                numbers = next(t for t in tables if t and "mIoU@1" in t[0])
                header = numbers[0]
                for run in ("random-walker", "sam-tiny"):
                    full = json.loads((demo_reports / run / "summary.json").read_text())
                    summary = full["datasets"]["demo"]
                    line = next(r for r in numbers[1:] if r[0].startswith(full["model"]["label"]))
                    for k, v in summary["miou"].items():
                        assert line[header.index(f"mIoU@{k}")] == f"{v:.3f}", (name, run, k)
                    assert line[header.index("masks")] == str(summary["n_masks"])
                # the gallery shows thumbnails with captions
                assert pages["gallery.html"].locator(".tiles figure img").count() >= 4
            # the comparison's Table 8 holds compare.json's delta at 1 click
            record = json.loads((demo_reports / "compare" / "compare.json").read_text())
            r = next(x for x in record["vs_baseline"] if x["metric"] == "mIoU@1")
            index_text = pages["index.html"].inner_text("body")
            assert f"{100 * r['delta']:+.2f}" in index_text and "Table 8 layout" in index_text
            runs_text = pages["runs.html"].inner_text("body")
            assert "Model fingerprint" in runs_text and "Protocol" in runs_text and "torch" in runs_text
        finally:
            context.close()
    assert not errors, "\n".join(errors)
