"""Open a report in headless Chromium (Debian's, driven by Playwright): which images failed to
load, what the console said, and a full-page screenshot.

Also a script: ``python tests/browser.py REPORT_HTML SCREENSHOT_PNG``.
"""

import shutil
import sys
from pathlib import Path

# the flags keep Chromium off the network: this machine reaches only package registries
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium():
    """The path of the system's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_report(html_path, screenshot_path):
    """Load ``html_path`` from a file:// URL; return ``(images, broken, errors)``: how many
    images the page has, the alt texts of those that did not load, and the console errors."""
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            images = page.evaluate("document.images.length")
            broken = page.evaluate("Array.from(document.images).filter("
                                   "i => !i.complete || i.naturalWidth === 0).map(i => i.alt)")
            page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            browser.close()
    return images, broken, errors


if __name__ == "__main__":
    images, broken, errors = open_report(*sys.argv[1:3])
    print(f"{images} images, {len(broken)} not loaded {broken}, console errors: {errors}")
    sys.exit(1 if broken or errors else 0)
