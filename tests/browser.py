"""Headless Debian Chromium driven by Playwright, for the HTML view's tests. Never a browser that Playwright
downloads: tests skip (with the reason) when `chromium` or the playwright package is missing, and CI installs
both (.ci/run)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return path


@contextmanager
def page(url: str, *, width: int = 1280, height: int = 800, timeout_s: float = 90):
    """A fresh headless Chromium (new profile) at `url`, waited on until the view reports ready. Yields the page
    and what it did: page errors, console errors, and every request that left file:// (all are blocked)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    executable = chromium_path()
    seen = {"errors": [], "requests": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
            tab.on("console", lambda msg: msg.type == "error" and seen["errors"].append(msg.text))

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    seen["requests"].append(r.request.url)
                    r.abort()

            tab.route("**/*", route)
            tab.goto(url)
            tab.wait_for_function("document.body.dataset.ready === '1'", timeout=timeout_s * 1000)
            yield tab, seen
        finally:
            browser.close()
