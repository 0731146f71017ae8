"""Fusing the meaning ranking with text hits (the rule measured by bench/text_fusion.py, docs/TEXT.md § 5).

    fused = m + BETA * t   when t >= TAU, else m

Text hits keep the order of their text scores (a hit with a higher `t` stays above one with a lower `t`).
`m` is the meaning score scaled to 0..1 over the query's candidates (best = 1; the library's scores are
logits of no fixed scale), `t` the text score of `store.search_text` (0..1: the weighted share of the
query's words the photo's text holds). A text hit outside the meaning candidates enters with m = 0.
Measured on 1,000 Flickr8k dev photos + 240 images of text: caption queries' R@1 unchanged (27.5 %),
one-word text queries in the top 5 from 0.5 % to 97.5 % (text hits in text-score order; 96.2 % without
that once a word read one letter off counts 0.8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

BETA = 1.0
TAU = 0.75


def fuse(
    meaning: Mapping[int, float],
    text_hits: Sequence[tuple[int, float, str]],
    beta: float = BETA,
    tau: float = TAU,
) -> list[tuple[int, float, str | None]]:
    """(photo id, fused score, matched text line or None), best first.

    `meaning`: photo id -> the library's score for the query's candidates; `text_hits`: search_text's
    (photo id, score, matched line)."""
    if meaning:
        lo, hi = min(meaning.values()), max(meaning.values())
        span = hi - lo
        scaled = {i: ((s - lo) / span if span > 0 else 1.0) for i, s in meaning.items()}
    else:
        scaled = {}
    lines: dict[int, str] = {}
    fused = dict(scaled)
    kept = sorted(((t, photo_id, line) for photo_id, t, line in text_hits if t >= tau and beta > 0), reverse=True)
    for t, photo_id, line in kept:
        fused[photo_id] = scaled.get(photo_id, 0.0) + beta * t
        lines[photo_id] = line
    # a text hit never passes one whose text holds more of the query (a word as written before a reading
    # one letter off, all the words before some of them): the meaning score orders hits of one text score
    floor, floor_t, tier_min = float("inf"), None, float("inf")
    for t, photo_id, _line in kept:
        if t != floor_t:
            floor, floor_t = tier_min, t
        fused[photo_id] = min(fused[photo_id], floor - 1e-6)
        tier_min = min(tier_min, fused[photo_id])
    order = sorted(fused, key=lambda i: (-fused[i], i))
    return [(i, fused[i], lines.get(i)) for i in order]
