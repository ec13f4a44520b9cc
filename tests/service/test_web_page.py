"""The web page in a real headless Chromium (Debian's, driven by Playwright).

The server runs in a thread on a free 127.0.0.1 port over a tiny run trained on the
synthetic taste clusters. Chromium must be installed (``scripts/install-browser.sh``); a
missing browser fails the test with that instruction rather than skipping it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from helpers import train_tiny_run

from movierec.service.app import create_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("MOVIEREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread, on a free port."""

    def __init__(self, app, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    run_dir = train_tiny_run(tmp_path_factory.mktemp("web") / "run", epochs=15)
    with ServerThread(create_app(run_dir)) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/install-browser.sh "
                    "(installs Debian's chromium), or set MOVIEREC_CHROMIUM", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server: ServerThread):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None)  # an expected 404 is reported by the page itself
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def _save(page, path: Path, *, full_page: bool = True) -> Path:
    page.screenshot(path=str(path), full_page=full_page)
    copy_to = os.environ.get("MOVIEREC_SCREENSHOTS")
    if copy_to:  # keep a copy outside pytest's temporary folders, e.g. for CI artifacts
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)
    return path


def test_new_user_rates_movies_and_gets_recommendations(page, server: ServerThread,
                                                       tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page.get_by_test_id("model-info")).to_contain_text("dot-bias")
    page.get_by_test_id("tab-new").click()

    # Popular movies are listed to start with; a search narrows them down.
    results = page.get_by_test_id("search-results")
    expect(results.locator("li.rate-row").first).to_be_visible()
    page.get_by_test_id("search").fill("toy")
    toy_story = results.locator("li.rate-row", has_text="Toy Story")
    expect(toy_story).to_have_count(1)
    toy_story.get_by_role("button", name="5 stars").click()

    recs = page.get_by_test_id("new-recs").locator("li.movie-card")
    expect(recs).to_have_count(12)
    expect(page.get_by_test_id("rated").locator("li.chip")).to_have_count(1)

    # Two more ratings from the popular list: recommendations update each time.
    page.get_by_test_id("search").fill("")
    expect(results.locator("li.rate-row", has_text="Toy Story")).to_have_count(0)
    rows = results.locator("li.rate-row")
    first_ids = recs.evaluate_all("cards => cards.map(c => c.dataset.movieId)")
    rated = {"1"}
    for index, stars in ((0, "4 stars"), (1, "1 star")):
        row = rows.nth(index)
        rated.add(row.get_attribute("data-movie-id"))
        row.get_by_role("button", name=stars, exact=True).click()
    expect(page.get_by_test_id("rated").locator("li.chip")).to_have_count(len(rated))
    expect(page.locator("#new-hint")).to_contain_text(f"From your {len(rated)} ratings")
    expect(recs).to_have_count(12)
    shown = recs.evaluate_all("cards => cards.map(c => c.dataset.movieId)")
    assert not rated & set(shown), "rated movies must not be recommended"
    assert shown != first_ids or len(rated) == 1

    # Each card has a title, a year and genres.
    first = recs.first
    expect(first.locator(".title")).not_to_be_empty()
    expect(first.locator(".meta")).to_contain_text(re.compile(r"^(19|20)\d\d"))
    expect(first.locator(".tag").first).to_be_visible()
    shot = _save(page, tmp_path / "new-user.png")
    assert shot.stat().st_size > 10_000

    # Clicking a movie shows similar ones.
    first.locator("button").click()
    drawer = page.get_by_test_id("similar-drawer")
    expect(drawer).to_have_class("drawer open")
    expect(page.get_by_test_id("similar").locator("li.movie-row")).to_have_count(10)
    page.wait_for_timeout(300)  # let the drawer finish sliding in
    _save(page, tmp_path / "similar.png", full_page=False)  # the drawer is fixed in place
    print(f"screenshots in {tmp_path}")


def test_known_user_sees_favourites_and_recommendations(page, server: ServerThread,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/")
    expect(page.get_by_test_id("model-info")).to_contain_text("synthetic")
    page.get_by_test_id("user-id").fill("2")
    page.get_by_test_id("show-user").click()
    expect(page.get_by_test_id("top-rated").locator("li.movie-row")).to_have_count(8)
    expect(page.get_by_test_id("user-recs").locator("li.movie-card")).to_have_count(12)
    _save(page, tmp_path / "known-user.png")

    page.get_by_test_id("user-id").fill("9999")
    page.get_by_test_id("show-user").click()
    expect(page.locator("#status")).to_contain_text("unknown user id '9999'")


@pytest.fixture(scope="module")
def ranking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    run_dir = train_tiny_run(tmp_path_factory.mktemp("web-rank") / "run", model="ease")
    with ServerThread(create_app(run_dir)) as running:
        yield running


def test_a_ranking_run_shows_relative_scores_not_ratings(browser, ranking_server: ServerThread,
                                                         tmp_path: Path) -> None:
    """ease predicts no rating: its lists show "score 0.42" titled as a relative score,
    never stars, for a known user and for a new one."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(ranking_server.url + "/")
        expect(page.get_by_test_id("model-info")).to_contain_text("ease")
        page.get_by_test_id("user-id").fill("2")
        page.get_by_test_id("show-user").click()
        cards = page.get_by_test_id("user-recs").locator("li.movie-card")
        expect(cards).to_have_count(12)
        badge = cards.first.locator(".badge")
        expect(badge).to_contain_text("score")
        expect(badge).to_have_attribute("title", re.compile("relative score, not a rating"))
        expect(page.get_by_test_id("user-recs")).not_to_contain_text("★")
        expect(page.locator("#user-hint")).to_contain_text("relative score")
        _save(page, tmp_path / "ranking-known-user.png")

        page.get_by_test_id("tab-new").click()
        page.get_by_test_id("search").fill("toy")
        toy_story = page.get_by_test_id("search-results").locator("li.rate-row",
                                                                  has_text="Toy Story")
        expect(toy_story).to_have_count(1)
        toy_story.get_by_role("button", name="5 stars").click()
        new_cards = page.get_by_test_id("new-recs").locator("li.movie-card")
        expect(new_cards).to_have_count(12)
        expect(new_cards.first.locator(".badge")).to_contain_text("score")
        expect(page.get_by_test_id("new-recs")).not_to_contain_text("★")
        expect(page.locator("#new-hint")).to_contain_text("relative score")
    finally:
        context.close()


def test_a_known_user_rates_with_stars_and_the_ratings_outlive_a_restart(
        browser, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """With a ratings store: rating three recommendations (after entering the token once)
    replaces them at once, and they are still there after a reload and a restart."""
    from playwright.sync_api import expect

    from movierec.service.auth import WriteToken
    from movierec.store import create_store, open_store

    folder = tmp_path_factory.mktemp("web-store")
    run_dir = train_tiny_run(folder / "run", epochs=15)
    store_path = folder / "ratings.sqlite"
    create_store(store_path, pd.DataFrame(columns=["user_id", "movie_id", "rating"]),
                 id_kind="int").close()

    def serve(port: int = 0):
        return ServerThread(create_app(run_dir, token=WriteToken("t0ken"),
                                       store=open_store(store_path)), port)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        with serve() as server:
            page.goto(server.url + "/#user=2")
            cards = page.get_by_test_id("user-recs").locator("li.movie-card")
            expect(cards).to_have_count(12)
            expect(page.get_by_test_id("stored-ratings")).to_contain_text("None yet")

            # Without the token the page asks for it and stores nothing.
            cards.first.get_by_role("button", name="4 stars").click()
            expect(page.get_by_test_id("token")).to_be_visible()
            expect(page.locator("#status")).to_contain_text("write token")
            page.get_by_test_id("token").fill("t0ken")
            page.get_by_test_id("save-token").click()
            expect(page.get_by_test_id("token")).to_be_hidden()

            rated: list[str] = []
            for stars in ("4 stars", "5 stars", "2 stars"):
                movie = cards.first.get_attribute("data-movie-id")
                cards.first.get_by_role("button", name=stars, exact=True).click()
                rated.append(movie)
                expect(page.get_by_test_id("stored-ratings").locator("li.chip")
                       ).to_have_count(len(rated))
                expect(cards.first).not_to_have_attribute("data-movie-id", movie)
            shown = cards.evaluate_all("cards => cards.map(c => c.dataset.movieId)")
            assert not set(rated) & set(shown) and len(shown) == 12
            _save(page, tmp_path / "known-user-rated.png")

            page.reload()
            expect(page.get_by_test_id("stored-ratings").locator("li.chip")).to_have_count(3)
            port = int(server.url.rsplit(":", 1)[1])
        with serve(port) as restarted:  # same address (the page's origin), same file
            page.goto(restarted.url + "/#user=2")
            chips = page.get_by_test_id("stored-ratings").locator("li.chip")
            expect(chips).to_have_count(3)
            ids = chips.evaluate_all("chips => chips.map(c => c.dataset.movieId)")
            assert sorted(ids) == sorted(rated)
            expect(cards).to_have_count(12)
            shown = cards.evaluate_all("cards => cards.map(c => c.dataset.movieId)")
            assert not set(rated) & set(shown)
            # Removing one (the token is remembered) gives it back to the candidates.
            chips.first.get_by_role("button").click()
            expect(chips).to_have_count(2)
    finally:
        context.close()
    assert not errors, errors
