"""Text normalisation for text search: what is stored and what is asked meet in the same form."""

from __future__ import annotations

from desktop_search.core.text.normalize import exact, is_cjk, loose, query_terms


def test_case_width_and_accents_are_folded() -> None:
    assert exact("HÔTEL Miramar") == "hotel miramar"
    assert exact("Straße") == "strasse"
    assert exact("ＧＡＴＥ　Ｂ１２") == "gate b12"  # full-width letters, digits and space
    assert exact("  Gate -- B12!! ") == "gate b12"


def test_ocr_confusions_meet() -> None:
    # 0/O, 1/l/I, 5/S read either way give the same loose form
    assert loose("RE16 TGK") == loose("REl6TGK") == loose("re i6 tgk")
    assert loose("B00KING") == loose("booking")
    assert loose("5ALE") == loose("sale")
    assert loose("Lantem") == loose("Lantern")  # rn read as m
    assert loose("Weding") == loose("Wedding")  # a doubled letter read once


def test_a_part_of_a_recognised_string_is_inside_its_loose_form() -> None:
    assert loose("miramar") in loose("HOTELMIRAMAR")
    assert loose("RE16") in loose("RE16 TGK")
    assert loose("hotel miramar") in loose("HOTEL  MIRAMAR · Receipt")


def test_chinese_passes_through_without_spaces() -> None:
    assert loose("北京 大学") == "北京大学"
    assert loose("北京") in loose("北京大学图书馆")
    assert is_cjk("京") and not is_cjk("a")


def test_query_terms_drop_describing_words_and_keep_quoted_phrases() -> None:
    terms = query_terms('receipt from the "Gate B12" hotel Miramar')
    phrases = [t.text for t in terms if t.phrase]
    words = [t.plain for t in terms if not t.phrase]
    assert phrases == ["gate b12"]
    assert words == ["receipt", "hotel", "miramar"]
    assert [t.plain for t in query_terms("dog on the beach")] == ["dog", "beach"]
    assert query_terms("the of a") == []
    # one word with its punctuation is one term
    assert [t.plain for t in query_terms("wi-fi")] == ["wifi"]
    # a lone Latin letter is no term; a lone Chinese character is
    assert query_terms("x") == []
    assert [t.text for t in query_terms("京")] == ["京"]
