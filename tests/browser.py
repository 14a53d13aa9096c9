"""Headless Chromium (Debian's, driven by Playwright) on our pages: a report (which images failed
to load, what the console said, a full-page screenshot), the draw-a-digit page (a "7" drawn
with the mouse, each model's answer, a screenshot), and the pages of the documentation site
(what each one's console said, its broken images and its links).

Also a script: ``python tests/browser.py REPORT_HTML SCREENSHOT_PNG``, or
``python tests/browser.py http://127.0.0.1:8000/ SCREENSHOT_PNG`` for a running
``mnistbench serve``.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

# the flags keep Chromium off the network: this machine reaches only package registries
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium():
    """The path of the system's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_unless_required(reason):
    """Skip the calling test for ``reason``, or fail it where the browser tests must run (CI sets
    ``MNISTBENCH_REQUIRE_BROWSER=1``)."""
    import pytest

    if os.environ.get("MNISTBENCH_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def browser_page(width, height):
    """A page in headless Chromium, and the list its console errors are collected in."""
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            browser.close()


def open_report(html_path, screenshot_path):
    """Load ``html_path`` from a file:// URL; return ``(images, broken, errors)``: how many
    images the page has, the alt texts of those that did not load, and the console errors."""
    with browser_page(1200, 900) as (page, errors):
        page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
        images = page.evaluate("document.images.length")
        broken = page.evaluate("Array.from(document.images).filter("
                               "i => !i.complete || i.naturalWidth === 0).map(i => i.alt)")
        page.screenshot(path=str(screenshot_path), full_page=True)
    return images, broken, errors


BROKEN_IMAGES = ("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                 ".map(i => i.getAttribute('src'))")
LINKS = "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


def visit_pages(urls):
    """Open every URL in turn; return ``{url: (console errors, sources of images that did not
    load, absolute URLs of its links)}``."""
    found = {}
    with browser_page(1400, 900) as (page, errors):
        for url in urls:
            errors.clear()
            response = page.goto(url, wait_until="networkidle")  # the search index too
            if response is None or not response.ok:
                errors.append(f"{url} answered {response.status if response else 'nothing'}")
            found[url] = (list(errors), page.evaluate(BROKEN_IMAGES), page.evaluate(LINKS))
    return found


# a "7" in canvas pixels, as strokes of points
SEVEN = [[(70, 60), (210, 60), (180, 120), (150, 180), (125, 240)]]


def draw_digit(url, screenshot, strokes=SEVEN, buttons=()):
    """Draw ``strokes`` (lists of canvas points) on the ``mnistbench serve`` page at ``url``, then
    click ``buttons`` (element ids, e.g. ``"rotate"``), each time waiting for the answer; screenshot
    the page and return ``({model: digit shown}, console errors)``."""
    with browser_page(1280, 600) as (page, errors):
        page.goto(url, wait_until="load")
        box = page.locator("#pad").bounding_box()
        for points in strokes:
            page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
            page.mouse.up()
        page.wait_for_function("document.body.dataset.state === 'answered'")
        for button in buttons:
            page.click(f"#{button}")
            page.wait_for_function("document.body.dataset.state === 'answered'")
        digits = page.eval_on_selector_all(
            ".model", "cards => cards.map(c => [c.dataset.model, "
                      "c.querySelector('.digit').textContent])")
        page.screenshot(path=str(screenshot), full_page=True)
    return dict(digits), errors


if __name__ == "__main__" and sys.argv[1].startswith("http"):
    answers, errors = draw_digit(*sys.argv[1:3])
    print(f"answers: {answers}, console errors: {errors}")
    sys.exit(1 if errors else 0)
elif __name__ == "__main__":
    images, broken, errors = open_report(*sys.argv[1:3])
    print(f"{images} images, {len(broken)} not loaded {broken}, console errors: {errors}")
    sys.exit(1 if broken or errors else 0)
