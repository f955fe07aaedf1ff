#!/usr/bin/env python3
"""The audit pages in a real browser: headless Chromium (Debian's chromium-headless-shell or
chromium, or LOUPE_CHROMIUM) driven by Playwright (PyPI), never a browser download. Used by
tests/python/test_pages.py, and to take the screenshots in docs/img:

    .venv/bin/python3 tools/audit/page/browser.py step.html docs/img/explore-gpt-baby.png --op 21
    .venv/bin/python3 tools/audit/page/browser.py diff.html docs/img/audit-diff.png
"""
import argparse
import contextlib
import os
import shutil


def chromium():
    """The Chromium to drive, or None."""
    for name in (os.environ.get("LOUPE_CHROMIUM"), "chromium-headless-shell", "chromium"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only where a browser is wanted)
    exe = chromium()
    if exe is None:
        raise RuntimeError("no Chromium: install Debian's chromium-headless-shell (./run test does) or set LOUPE_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def open_page(b, path, width=1600, height=1100):
    """A page opened from disk; page.loupe_errors collects console errors and uncaught exceptions."""
    page = b.new_page(viewport={"width": width, "height": height})
    page.loupe_errors = []
    page.on("console", lambda m: page.loupe_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.loupe_errors.append(str(e)))
    page.goto("file://" + os.path.abspath(path))
    return page


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page")
    ap.add_argument("png")
    ap.add_argument("--op", type=int, help="explore: select this op first")
    ap.add_argument("--module", help="explore: select this module first")
    ap.add_argument("--full", action="store_true", help="the whole page, not the first screen")
    a = ap.parse_args()
    with browser() as b:
        page = open_page(b, a.page)
        if a.module is not None:
            page.locator(f'#tree li.module[data-path="{a.module}"] > .name').click()
        if a.op is not None:
            page.locator(f'#oplist .op[data-i="{a.op}"]').click()
        page.screenshot(path=a.png, full_page=a.full)
        if page.loupe_errors:
            raise SystemExit("errors on the page: " + "; ".join(page.loupe_errors))
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
