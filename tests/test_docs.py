"""The documentation site: it builds with warnings as errors, and every page of it, opened in
Chromium, loads with no console error and no broken image, and every link within the site
reaches a page that exists, at an anchor that exists on it.

The site is built once per session into a temporary folder, or taken from
``MNISTBENCH_DOCS_SITE`` (a folder ``mkdocs build`` wrote, as CI's does) without building again.
"""

import functools
import http.server
import importlib
import os
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from browser import chromium, skip_unless_required, visit_pages

ROOT = Path(__file__).resolve().parent.parent


def build_site(site):
    """Build the site into ``site`` with warnings as errors; return mkdocs' output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(ROOT / "docs" / "mkdocs.yml"), "-d", str(site)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    try:
        for name in ("mkdocs", "mkdocstrings", "material"):
            importlib.import_module(name)
    except ImportError:
        skip_unless_required('the docs extra is not installed (pip install -e ".[docs]")')
    if os.environ.get("MNISTBENCH_DOCS_SITE"):
        return Path(os.environ["MNISTBENCH_DOCS_SITE"])
    site = tmp_path_factory.mktemp("site")
    build_site(site)
    return site


@pytest.fixture(scope="session")
def served(site):
    """The site served over HTTP on this machine, as its base URL (Material's search needs
    HTTP; a file:// page may not fetch its index)."""
    handler = functools.partial(Quiet, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Anchors(HTMLParser):
    """Every ``id`` in a page."""

    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name == "id")


def page_paths(site):
    """URL paths of the site's pages (every HTML file but the 404 page)."""
    return sorted("/" + path.relative_to(site).as_posix().removesuffix("index.html")
                  for path in site.rglob("*.html") if path.name != "404.html")


def target_file(site, path):
    """The file a URL path within the site serves, or None."""
    file = site / path.lstrip("/")
    if file.is_dir():
        file = file / "index.html"
    return file if file.is_file() else None


@functools.cache
def anchors(file):
    parser = Anchors()
    parser.feed(file.read_text(encoding="utf-8"))
    return parser.ids


def broken_links(site, base, links):
    """The links that leave no page, or no anchor, within the site."""
    broken = []
    for link in links:
        parts = urlsplit(link)
        if not link.startswith(base):
            continue  # outside the site: not followed, the test needs no network
        file = target_file(site, parts.path)
        if file is None or (parts.fragment and file.suffix == ".html"
                            and parts.fragment not in anchors(file)):
            broken.append(link.removeprefix(base))
    return broken


def test_the_site_has_the_generated_pages(site):
    paths = page_paths(site)
    assert {"/reference/cli/", "/reference/api/", "/reference/algorithms/", "/gallery/"} \
        <= set(paths)
    reference_runs = [p.name for p in (ROOT / "results" / "reference").iterdir() if p.is_dir()]
    assert {f"/gallery/{name}/" for name in reference_runs} <= set(paths)


def test_the_cli_reference_is_the_parsers_help(site):
    from mnistbench import cli

    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in cli.SUBCOMMANDS:
        assert f"mnistbench {command}" in page
    assert "--fail-if-worse" in page and "--timeout" in page


@pytest.mark.browser
def test_every_page_loads_clean_in_chromium(site, served):
    if chromium() is None:
        skip_unless_required("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")
    urls = [served + path for path in page_paths(site)]
    problems = {}
    for url, (errors, broken_images, links) in visit_pages(urls).items():
        found = {"console errors": errors, "broken images": broken_images,
                 "broken links": broken_links(site, served, links)}
        if any(found.values()):
            problems[url.removeprefix(served)] = {k: v for k, v in found.items() if v}
    assert not problems, problems
