"""The results model, the grid with 100,000 results, the thumbnail loader and the job bridge."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSize

from desktop_search.core.types import SearchResult
from desktop_search.ui.results_model import ResultsModel, Roles, SortOrder
from desktop_search.ui.thumbnail_delegate import ThumbnailDelegate
from desktop_search.ui.thumbnails import ThumbnailLoader, load_thumbnail_image
from desktop_search.ui.widgets import ResultsView
from desktop_search.ui.worker import JobManager
from tests.fakes import solid_image

pytestmark = pytest.mark.timeout(60)


def fake_results(n: int, folder: str = "/nowhere") -> list[SearchResult]:
    base = datetime(2020, 1, 1)
    return [
        SearchResult(i, f"{folder}/p{i}.jpg", 1.0 - i / n, base + timedelta(hours=(i * 7919) % n) if i % 10 else None,
                     1000 + i, 64, 48, None, None, None)
        for i in range(n)
    ]


def test_sorting_and_cutoff() -> None:
    model = ResultsModel()
    results = fake_results(100)
    model.set_results(results)
    assert model.rowCount() == 100 and model.result(0).photo_id == 0
    model.set_sort_order(SortOrder.NEWEST)
    dated = [r.date_taken for r in model.results() if r.date_taken]
    assert dated == sorted(dated, reverse=True)
    assert all(r.date_taken is None for r in model.results()[len(dated):])  # undated last
    model.set_sort_order(SortOrder.OLDEST)
    dated = [r.date_taken for r in model.results() if r.date_taken]
    assert dated == sorted(dated)
    model.set_sort_order(SortOrder.RELEVANCE)
    model.set_cutoff(0.5)
    assert model.rowCount() == 50 and model.hidden_count() == 50
    assert min(r.score for r in model.results()) >= model.cutoff_score()
    model.set_cutoff(0.0)
    assert model.rowCount() == 100
    index = model.index(3, 0)
    assert model.data(index) == "p3.jpg"
    assert model.data(index, Roles.PHOTO_ID) == 3
    assert "relevance" in model.data(index, 3)  # tooltip
    assert model.mimeData([index]).urls()[0].toLocalFile() == "/nowhere/p3.jpg"


def test_the_next_page_is_appended_without_a_reset(qtbot) -> None:
    model = ResultsModel()
    results = fake_results(300)
    model.set_results(results[:100], more_available=True)
    resets, inserts = [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    requested = []
    model.more_requested.connect(lambda: requested.append(1))
    assert model.canFetchMore(model.index(-1, 0))
    model.fetchMore(model.index(-1, 0))
    assert requested == [1] and not model.canFetchMore(model.index(-1, 0))
    model.set_results(results[:200], more_available=True)
    assert inserts == [(100, 199)] and not resets
    assert model.rowCount() == 200 and model.result(150).photo_id == 150


def test_a_grid_of_100k_results_is_fast_and_creates_no_pixmaps_for_hidden_rows(qtbot) -> None:
    loader = ThumbnailLoader(side=160)
    model = ResultsModel()
    view = ResultsView()
    delegate = ThumbnailDelegate(loader, view)
    delegate.side = 160
    view.setModel(model)
    view.setItemDelegate(delegate)
    view.set_cell_size(delegate.cell_size() + QSize(6, 6))
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    results = fake_results(100_000)
    start = time.perf_counter()
    model.set_results(results)
    view.grab()  # lays out and paints the visible cells
    shown_s = time.perf_counter() - start
    start = time.perf_counter()
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)
    view.grab()
    scroll_s = time.perf_counter() - start
    start = time.perf_counter()
    view.resize(1000, 800)
    view.grab()
    resize_s = time.perf_counter() - start
    start = time.perf_counter()
    model.set_sort_order(SortOrder.NEWEST)
    view.grab()
    sort_s = time.perf_counter() - start
    print(f"\n100k results: shown {shown_s * 1000:.0f} ms, scroll {scroll_s * 1000:.0f} ms, "
          f"resize {resize_s * 1000:.0f} ms, sort by date {sort_s * 1000:.0f} ms")
    assert shown_s < 1.0 and scroll_s < 0.25 and resize_s < 0.5 and sort_s < 1.5
    # only the visible cells asked for thumbnails
    assert 0 < loader.pending_count() + loader.decoded <= 4 * len(range(60))
    assert len(loader._cache) < 200
    loader.shutdown()


def test_thumbnails_decode_off_the_gui_thread_prefer_the_core_thumbnail_and_fall_back(qtbot, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    solid_image(photo, (200, 10, 10), size=(800, 600))
    thumb = tmp_path / "thumb.jpg"
    solid_image(thumb, (10, 10, 200), size=(256, 192))
    image = load_thumbnail_image(str(thumb), str(photo), 128)
    assert (image.width(), image.height()) == (128, 96)
    assert image.pixelColor(64, 48).blue() > 150  # the core's thumbnail was used
    image = load_thumbnail_image(str(tmp_path / "missing.jpg"), str(photo), 128)
    assert (image.width(), image.height()) == (128, 96) and image.pixelColor(64, 48).red() > 150
    assert load_thumbnail_image(None, str(tmp_path / "gone.jpg"), 128) is None
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert load_thumbnail_image(None, str(tmp_path / "broken.jpg"), 128) is None

    loader = ThumbnailLoader(side=96, threads=2)
    threads: set[int] = set()
    import desktop_search.ui.thumbnails as thumbs

    original = thumbs.load_thumbnail_image

    def spy(*args):
        threads.add(threading.get_ident())
        return original(*args)

    thumbs.load_thumbnail_image = spy
    try:
        keys = []
        for i in range(12):
            p = tmp_path / f"p{i}.jpg"
            solid_image(p, (10 * i, 100, 100), size=(300, 200))
            key = loader.key_for(str(p), p.stat().st_size)
            keys.append(key)
            assert loader.request(key, None, str(p)) is None
        (tmp_path / "bad.jpg").write_bytes(b"junk")
        bad = loader.key_for(str(tmp_path / "bad.jpg"), 4)
        loader.request(bad, None, str(tmp_path / "bad.jpg"))
        qtbot.waitUntil(lambda: all(loader.is_known(k) for k in [*keys, bad]), timeout=10000)
    finally:
        thumbs.load_thumbnail_image = original
    assert threading.get_ident() not in threads
    assert all(loader.cached(k) is not None for k in keys)
    assert loader.cached(bad) is None and loader.is_known(bad)  # failed once, not retried forever
    assert loader.cached(keys[0]).width() == 96
    loader.cache_bytes = 3 * 96 * 64 * 4  # an LRU bounded in bytes
    loader.request(keys[-1], None, keys[-1].path)
    loader._drain()
    assert loader.shutdown(5000)


def test_jobs_deliver_batches_results_and_errors_on_the_gui_thread(qtbot) -> None:
    jobs = JobManager()
    gui = threading.get_ident()
    batches: list[list[int]] = []
    seen_threads: set[int] = set()

    def produce():
        seen_threads.add(threading.get_ident())
        yield from range(5000)
        return "done"

    delivered_on: set[int] = set()

    def on_progress(batch: list[int]) -> None:
        delivered_on.add(threading.get_ident())
        batches.append(batch)

    with qtbot.waitSignal(jobs.jobs_changed, timeout=5000, check_params_cb=lambda *a: not jobs.busy()):
        job = jobs.start(produce, on_progress=on_progress)
    assert job.result == "done"
    assert [i for b in batches for i in b] == list(range(5000))
    assert len(batches) < 5000  # batched, not one signal per item
    assert gui not in seen_threads and delivered_on == {gui}

    errors = []
    with qtbot.waitSignal(jobs.jobs_changed, timeout=5000, check_params_cb=lambda *a: not jobs.busy()):
        jobs.start(lambda: 1 / 0, on_error=errors.append)
    assert isinstance(errors[0], ZeroDivisionError)


def test_cancel_stops_a_generator_between_items_and_shutdown_joins(qtbot) -> None:
    jobs = JobManager()
    produced = []
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                i += 1
                time.sleep(0.001)
                yield i
        finally:
            closed.set()

    finished = []
    job = jobs.start(endless, on_finished=lambda: finished.append(1))
    qtbot.waitUntil(lambda: len(produced) > 20, timeout=5000)
    assert jobs.shutdown(5)
    assert closed.is_set() and job.done and finished == [1] and job.cancelled
    with pytest.raises(RuntimeError):
        jobs.start(lambda: None)


def test_the_cutoff_keeps_its_threshold_across_pages_and_stops_fetching_below_it(qtbot) -> None:
    """The cutoff is set on the first page's score range: loading more pages does not move it, and
    once the loaded results reach below it no further page is fetched (all would be hidden)."""
    model = ResultsModel()
    results = fake_results(300)  # scores fall with the rank
    model.set_results(results[:100], more_available=True)
    model.set_cutoff(0.5)
    threshold = model.cutoff_score()
    assert threshold is not None
    shown = model.rowCount()
    assert 0 < shown < 100
    assert not model.canFetchMore(model.index(-1, 0))  # page 1 already reaches below the cutoff
    model.set_results(results[:200], more_available=True, same_query=True)
    assert model.cutoff_score() == threshold and model.rowCount() == shown
    model.set_results(results[100:150], same_query=False)  # a new query: a new range
    assert model.cutoff_score() != threshold


def test_rated_results_hide_below_a_good_match_and_show_the_closest_when_none_is_good() -> None:
    """One relevance scale (0-100): the cutoff starts at a good match (50); when no result is good,
    the closest photos are shown anyway and the model says so (the window's "No good matches")."""
    from dataclasses import replace

    model = ResultsModel()
    results = [replace(r, relevance=80.0 - 10 * i) for i, r in enumerate(fake_results(8))]  # 80 .. 10
    model.set_results(results)
    assert model.rated and model.min_relevance == 50.0
    assert [r.relevance for r in model.results()] == [80.0, 70.0, 60.0, 50.0]
    assert model.hidden_count() == 4 and not model.nothing_clears
    assert "relevance 80 (strong match)" in model.data(model.index(0, 0), 3)  # tooltip
    weak = [replace(r, relevance=30.0 - i) for i, r in enumerate(fake_results(5))]
    model.set_results(weak)
    assert model.rowCount() == 5 and model.nothing_clears
    model.set_min_relevance(0)
    assert model.rowCount() == 5 and not model.nothing_clears
