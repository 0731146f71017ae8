"""The window's search session, without Qt: de-duplication by ``SearchQuery ==``, paging, what
is shown, the count's words."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from desktop_search.core.types import SearchQuery
from desktop_search.ui.search_session import Example, SearchSession


def session(page: int = 20) -> SearchSession:
    sizes = {"page": page}
    s = SearchSession(lambda: sizes["page"])
    s.sizes = sizes  # type: ignore[attr-defined]  # the test changes the setting
    return s


def test_the_same_search_is_sent_once_unless_forced() -> None:
    s = session()
    first = s.submit("a dog")
    assert first == SearchQuery(text="a dog", limit=20)
    s.sent(first)
    assert s.submit("a dog ") is None  # the same words, as typed
    assert s.submit("a dog", force=True) == first
    assert s.submit("a cat") == SearchQuery(text="a cat", limit=20)


def test_a_search_that_differs_only_in_a_filter_is_a_new_search() -> None:
    """It was compared field by field (text, images, ids, limit): a new filter was skipped."""
    s = session()
    s.sent(s.submit("beach"))
    s.filters = {"date": (datetime(2020, 1, 1), None)}
    query = s.submit("beach")
    assert query is not None and query.after == datetime(2020, 1, 1) and query.text == "beach"
    s.sent(query)
    s.filters = {"date": (datetime(2020, 1, 1), None), "camera": "  "}  # an empty value: no filter
    assert s.submit("beach") is None


def test_an_example_photo_joins_the_query() -> None:
    s = session()
    s.example = Example("/photos/a.jpg", None, 10)
    assert s.query("red") == SearchQuery(text="red", image_paths=("/photos/a.jpg",), limit=20)
    s.example = Example("/photos/b.jpg", 7, 10)  # a library photo: its stored vector
    assert s.query("") == SearchQuery(photo_ids=(7,), limit=20)
    assert s.asks_something("  ")
    s.example = None
    assert not s.asks_something("  ") and s.query(" ").is_empty


def test_a_held_back_search_goes_later() -> None:
    """Entered before the library opened: not taken for one already running when it opens."""
    s = session()
    query = s.submit("red")
    assert query is not None
    s.not_sent()
    assert s.submit("red") == query


def test_the_next_page_and_the_same_search_again_keep_the_place() -> None:
    s = session(page=20)
    query = s.submit("red")
    assert query is not None
    s.sent(query)
    assert s.show(query, more=True) == (False, False)  # a new search: scroll to the top
    assert s.next_page() and s.limit == 40
    more = s.submit("red", force=True, keep_limit=True)
    assert more is not None and more.limit == 40
    s.sent(more)
    assert s.is_shown(more)  # the next page is the same search (only the limit differs)
    assert s.show(more, more=False) == (True, False)
    # the library changed: the same search again, with as many results, not de-duplicated
    assert s.again() and s.last_submitted is None and s.limit == 40
    assert s.submit("red", keep_limit=True) == dataclasses.replace(query, limit=40)
    # a new search starts at one page of the setting as it is now
    s.sizes["page"] = 10  # type: ignore[attr-defined]
    assert s.submit("blue") == SearchQuery(text="blue", limit=10)


def test_nothing_shown_nothing_to_page_or_repeat() -> None:
    s = session()
    assert not s.next_page() and not s.again()
    empty = s.submit("")
    assert empty is not None and empty.is_empty
    s.cleared(empty)
    assert s.shown is None and s.submit("") is None


def test_enter_before_the_results_selects_the_first_once() -> None:
    s = session()
    query = s.submit("red")
    assert query is not None
    s.select_first_when_shown = True
    assert s.show(query, more=False) == (False, True)
    assert s.show(query, more=False) == (True, False)


def test_the_count_gives_a_page_as_a_page_of_the_total() -> None:
    s = session(page=20)
    query = s.submit("red")
    assert query is not None
    s.show(query, more=True)
    assert s.count_text(20, 0, indexed=32) == "20 of 32 results"
    assert s.count_text(18, 2, indexed=32) == "18 of 32 results (2 hidden by the cutoff)"
    s.show(query, more=False)
    assert s.count_text(32, 0, indexed=32) == "32 results"
    by_photo = SearchQuery(photo_ids=(3,), limit=20)
    s.show(by_photo, more=True)
    assert s.total(32) == 31  # the example photo itself is not among its results
    assert s.count_text(20, 0, indexed=None) == "20 results"
