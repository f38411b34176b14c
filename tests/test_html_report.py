"""The HTML report in a real browser (headless chromium): it loads with no console error,
fetches nothing, shows the finding, and its swimlane and copy button work."""

from __future__ import annotations

import pytest

from lockstep.tools.cli import run

from .browser import chromium

PAGES = {
    "abba": "ls1:abba:-:0x2.1x2",
    "rwsem-reader-writer": "ls1:rwsem-reader-writer:-:0x2.1.2.1",
    "replace-vs-destroy": "ls1:replace-vs-destroy:-:0x3.1x3",
}


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    out = {}
    for name, line in PAGES.items():
        path = folder / f"{name}.html"
        assert run(["show", line, "--format", "html", "-o", str(path)]) in (0, 1)
        out[name] = path
    return out


def open_page(browser, path):
    """Load ``path``; return the page, its console errors and every URL it requested."""
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_page_loads_offline_without_console_errors(browser, pages, name):
    page, errors, requests = open_page(browser, pages[name])
    try:
        assert errors == []
        assert requests == [pages[name].as_uri()], "nothing is fetched but the file itself"
        assert page.title() == f"lockstep: {name}"
        assert (
            page.locator("#swimlane").is_visible()
            and page.locator(".lane svg.swimlane").count() == 1
        )
        assert page.locator(".graph svg").count() == 1, "the lock graph is inline SVG"
    finally:
        page.close()


def test_the_page_shows_the_finding_and_its_replay_line(browser, pages):
    page, errors, _ = open_page(browser, pages["abba"])
    try:
        titles = page.locator(".finding h3").all_inner_texts()
        assert any("possible circular locking dependency: A -> B -> A" in t for t in titles)
        assert any("deadlock: t2 waits for A, t1 waits for B" in t for t in titles)
        assert page.locator("#replay-1").inner_text() == f"lockstep replay {PAGES['abba']}"
        assert page.locator(".ev[data-kind=finding]").count() == 2
        assert page.locator("tr.cycle").count() == 2, "both edges of the cycle are red rows"
        assert errors == []
    finally:
        page.close()


def test_hovering_a_swimlane_row_shows_who_holds_what(browser, pages):
    page, errors, _ = open_page(browser, pages["abba"])
    try:
        waits = page.locator(".ev[data-kind=wait]")
        assert waits.count() == 2
        waits.last.hover()
        details = page.locator("#details").inner_text()
        assert "t2: wait A (held by t1)" in details
        assert "held: t1: A; t2: B" in details
        page.locator(".ev[data-kind=acquire]").last.hover()
        details = page.locator("#details").inner_text()
        assert "t2: acquire A" in details and "at: t2 (toys.py:" in details
        assert errors == []
    finally:
        page.close()


def test_the_copy_button_answers_without_an_error(browser, pages):
    page, errors, _ = open_page(browser, pages["abba"])
    try:
        button = page.locator("button[data-target=replay-1]")
        button.click()
        page.wait_for_function(
            "document.querySelector('button[data-target=replay-1]').textContent != 'Copy'"
        )
        assert button.inner_text() in ("Copied", "Select and copy")
        assert errors == []
    finally:
        page.close()


def test_a_release_that_unblocks_a_waiter_is_an_arrow(browser, pages):
    page, errors, _ = open_page(browser, pages["replace-vs-destroy"])
    try:
        arrows = page.locator("path.flow")
        assert arrows.count() == 1
        assert "idev1 releases ictx.objects.xa_lock: hwpt:M acquires it" in (
            arrows.first.locator("title").text_content()
        )
        assert errors == []
    finally:
        page.close()
