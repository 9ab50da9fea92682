# ruff: noqa: RUF001  (posts in Turkish, Arabic and Bosnian are the point)
"""Grouping reposts and quotes: exact fingerprints and near-duplicate sketches on realistic posts."""

from __future__ import annotations

import pytest

from services.listening.mentions.fingerprint import (
    NEAR_DUPLICATE_THRESHOLD,
    RepostGrouper,
    candidate_keys,
    fingerprint,
    is_near_duplicate,
    normalise,
    similarity,
    sketch,
)

TEXT = "My Nike order arrived broken and support ignores me. Terrible experience, never again!"
ORIGINAL = TEXT + " https://t.co/aB3dE"


@pytest.mark.parametrize(
    "repost",
    [
        "RT @angry_customer: " + TEXT,
        "rt @angry_customer " + TEXT,
        "RT @a: RT @angry_customer: my nike order arrived BROKEN and support ignores me... "
        "terrible experience never again",
        "@Nike @NikeSupport " + TEXT,
        TEXT.replace(". ", ".   ") + "! https://bit.ly/x1",
        TEXT + " 😡😡 via @angry_customer",
        TEXT.upper(),
    ],
)
def test_reposts_share_the_exact_fingerprint(repost: str) -> None:
    assert fingerprint(repost) == fingerprint(ORIGINAL)


def test_fingerprint_folds_accents_and_scripts() -> None:
    assert fingerprint("Siparişim hâlâ gelmedi, İstanbul'da kargo yok!") == fingerprint(
        "RT @ayse: siparisim hala gelmedi istanbul da kargo yok"
    )
    assert fingerprint("طلبي تأخر أسبوعين، خدمة سيئة جداً") == fingerprint("طلبي تأخر اسبوعين خدمة سيئة جدا")
    assert fingerprint("Čekam povrat novca već mjesec dana. Užas!") == fingerprint(
        "cekam povrat novca vec mjesec dana uzas"
    )


def test_fingerprint_is_stable_across_processes() -> None:
    assert fingerprint("hello world") == "e9a804b2e527fd3601d2ffc0bb023cd6"  # BLAKE2b-128, fixed forever
    assert normalise("RT @x: Hello, World! https://t.co/1") == "hello world"


def test_different_texts_have_different_fingerprints() -> None:
    assert fingerprint("where is my order?") != fingerprint("where is my refund?")
    assert fingerprint("nike is great") != fingerprint("great is nike")


def test_posts_without_words() -> None:
    assert fingerprint("") is None
    assert fingerprint("   \n") is None
    assert fingerprint("🔥🔥🔥") == fingerprint("RT @x: 🔥🔥🔥")
    assert fingerprint("🔥🔥🔥") != fingerprint("😡")
    assert fingerprint("https://example.com/a") != fingerprint("https://example.com/b")
    assert fingerprint("https://example.com/a") == fingerprint("https://EXAMPLE.com/a ")


NEAR_DUPLICATES = [
    # an added comment (a quote), an added hashtag and emoji
    (
        ORIGINAL,
        "This 👇 My Nike order arrived broken and support ignores me. Terrible experience, never again!",
    ),
    (
        ORIGINAL,
        "Same here! My Nike order arrived broken and support ignores me. Terrible experience, never again!",
    ),
    # truncated by the platform mid-word
    (
        ORIGINAL,
        "RT @angry_customer: My Nike order arrived broken and support ignores me. Terrible experience, nev…",
    ),
    # a few words edited
    (ORIGINAL, "My Nike order arrived broken and support ignores me. Horrible experience, never again!"),
    (
        "Siparişim hâlâ gelmedi, kargo 5 gündür yolda. Rezalet bir hizmet @Trendyol",
        "siparişim hala gelmedi kargo 5 gündür yolda rezalet bir hizmet @trendyol #TrendyolRezalet",
    ),
    (
        "Free delivery on all orders this weekend only! Use code WEEKEND at checkout",
        "Free delivery on all orders this weekend only! Use code WEEKEND at checkout. Don't miss it",
    ),
    (
        "Naručio sam prije dvije sedmice, još ništa nije stiglo. Užas od usluge!",
        "Naručio sam prije dvije sedmice, još ništa nije stiglo. Užas od usluge! Ne preporučujem.",
    ),
]

DIFFERENT = [
    (ORIGINAL, "My Adidas order arrived late and support was helpful. Great experience, will buy again!"),
    (
        "My Nike order arrived broken and support ignores me.",
        "My Nike order arrived today and it looks great.",
    ),
    (
        "Free delivery on all orders this weekend only! Use code WEEKEND at checkout",
        "Free returns on all orders this month! Use code RETURN at checkout",
    ),
    ("Siparişim hâlâ gelmedi, kargo 5 gündür yolda.", "Siparişim bugün geldi, kargo çok hızlıydı."),
    ("where is my order?", "where is my refund?"),
    ("طلبي من نون تأخر أسبوعين", "طلبي من نون وصل بسرعة"),
]


@pytest.mark.parametrize(("a", "b"), NEAR_DUPLICATES)
def test_near_duplicates_are_grouped(a: str, b: str) -> None:
    assert fingerprint(a) != fingerprint(b)
    assert is_near_duplicate(sketch(a), sketch(b)), similarity(sketch(a), sketch(b))
    assert set(candidate_keys(sketch(a))) & set(candidate_keys(sketch(b)))


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_posts_on_the_same_topic_are_not(a: str, b: str) -> None:
    assert similarity(sketch(a), sketch(b)) < NEAR_DUPLICATE_THRESHOLD


def test_similarity_is_symmetric_and_one_for_identical_posts() -> None:
    a, b = sketch(NEAR_DUPLICATES[4][0]), sketch(NEAR_DUPLICATES[4][1])
    assert similarity(a, b) == similarity(b, a)
    assert similarity(a, a) == 1.0
    assert similarity((), ()) == 1.0
    assert similarity(a, ()) == 0.0


def test_sketch_of_a_long_post_is_bounded_and_still_estimates() -> None:
    words = [f"w{i}" for i in range(300)]
    long_a = " ".join(words)
    long_b = " ".join(words[:270] + [f"x{i}" for i in range(30)])
    assert len(sketch(long_a)) == 32
    assert 0.6 < similarity(sketch(long_a), sketch(long_b)) <= 1.0


def test_one_word_posts_use_the_word() -> None:
    assert similarity(sketch("Nike!"), sketch("RT @x: nike")) == 1.0
    assert similarity(sketch("Nike!"), sketch("Adidas")) == 0.0


def test_grouper_groups_reposts_and_near_duplicates_under_the_first_post() -> None:
    grouper = RepostGrouper()
    assert grouper.add("p1", ORIGINAL).how == "new"
    exact = grouper.add("p2", "RT @angry_customer: " + ORIGINAL)
    assert (exact.group_id, exact.how) == ("p1", "exact")
    near = grouper.add("p3", NEAR_DUPLICATES[0][1])
    assert (near.group_id, near.how) == ("p1", "near")
    assert near.score >= NEAR_DUPLICATE_THRESHOLD
    other = grouper.add("p4", DIFFERENT[0][1])
    assert (other.group_id, other.how) == ("p4", "new")
    # a repost of the near-duplicate joins the same group
    assert grouper.add("p5", "RT @z: " + NEAR_DUPLICATES[0][1]).group_id == "p1"


def test_grouper_forgets_the_oldest_beyond_capacity() -> None:
    grouper = RepostGrouper(capacity=2)
    grouper.add("p1", "first post about nike shoes")
    grouper.add("p2", "second post about adidas shirts")
    grouper.add("p3", "third post about puma socks")
    assert len(grouper) == 2
    assert grouper.add("p4", "first post about nike shoes").group_id == "p4"
    assert grouper.add("p5", "RT @x: third post about puma socks").group_id == "p3"
