# ruff: noqa: RUF001  (posts and queries in Turkish, Arabic and full-width script are the point)
"""Listening-query throughput: fold + tokenise a mention once, then match 50 compiled queries.

.venv/bin/python -m bench.listening_query [--mentions 5000] [--seconds 3]   (from the repository root)

Prints mentions per CPU-second of this process (one core) for prepare alone, for matching 50 queries
alone, and for both (the figure the fast tier needs: ≥ 2,000 mentions/s on one core), plus the match
rate so that the queries are not idle.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from services.listening.queries.language import Doc, Query, compile_query, prepare

BRANDS = ["Nike", "Adidas", "Migros", "Zalando", "IKEA", "Trendyol", "Noon", "Konzum", "H&M", "Puma"]
TEMPLATES = [
    ("en", "My {b} order arrived broken and support ignores me. Terrible! {tag} {url}"),
    ("en", "How do I change the delivery address of my {b} order? @{h} please help"),
    ("en", "Love the new {b} jacket, best purchase this year {emoji} {tag}"),
    ("en", "RT @{h}: {b} announces free delivery for all members this weekend {url}"),
    ("en", "Still waiting for a refund from {b} after three weeks... not happy {emoji}"),
    ("tr", "{b} siparişim hâlâ gelmedi, kargo gecikti, çok kötü bir hizmet! {tag}"),
    ("tr", "İstanbul'daki {b} mağazasında çalışanlar çok ilgiliydi, teşekkürler {emoji}"),
    ("tr", "{b} iade sürecini nasıl başlatırım? Ürün hasarlı geldi @{h}"),
    ("de", "Die Lieferung von {b} ist schon wieder zu spät. Großartig, wirklich. {url}"),
    ("de", "Ich liebe die neue Kollektion von {b}! Straßenbahn-Werbung überall {emoji}"),
    ("de", "Wie kann ich bei {b} meine Bestellung stornieren? Danke im Voraus"),
    ("ar", "طلبي من {b} تأخر أسبوعين ولم يرد علي أحد، خدمة سيئة جداً {tag}"),
    ("ar", "أحببت المنتج الجديد من {b}، الجودة ممتازة والتوصيل سريع {emoji}"),
    ("ar", "متى يصل طلبي من {b}؟ الرقم ١٢٣٤٥"),
    ("bs", "Naručio sam iz {b} prije dvije sedmice, još ništa nije stiglo. Užas! {tag}"),
    ("bs", "Đorđe kaže da je {b} dostava brza, ja sam zadovoljan {emoji}"),
    ("hr", "Može li mi netko iz {b} odgovoriti? Čekam povrat novca već mjesec dana"),
    ("sv", "Fantastiskt bra kundtjänst hos {b}, tack! {emoji}"),
    ("sv", "Min beställning från {b} har inte kommit än, vad händer? @{h}"),
    ("fr", "Livraison {b} encore en retard, service client injoignable. Déçu. {url}"),
    ("es", "¡Me encanta mi nueva compra de {b}! Envío rapidísimo {emoji} {tag}"),
]
EMOJI = ["😡", "👍🏽", "❤️", "🔥", "😍", "🙄", ""]


def mentions(n: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """`n` synthetic (text, language, platform, author) mentions in nine languages."""
    out = []
    for _ in range(n):
        lang, template = rng.choice(TEMPLATES)
        brand = rng.choice(BRANDS)
        text = template.format(
            b=brand,
            h=f"{brand.lower().replace('&', '')}_help",
            tag=f"#{brand.replace('&', '')}{rng.choice(['', 'Fail', 'Love'])}",
            url=f"https://t.co/{rng.getrandbits(40):x}",
            emoji=rng.choice(EMOJI),
        )
        out.append(
            (text, lang, rng.choice(["x", "meta", "mastodon", "bluesky"]), f"user{rng.randrange(10**6)}")
        )
    return out


def queries() -> list[Query]:
    """50 queries of the shapes tenants write: brand, competitor and topic, in several languages."""
    expressions = []
    for brand in BRANDS:
        b = brand.lower().replace("&", "")
        expressions += [
            f'{b} OR #{b}* OR @{b}_help OR "{brand} store"',
            f"({b} OR #{b}*) AND (deliver* OR lieferung OR kargo OR teslimat OR dostava OR توصيل OR lever*)",
            f'{b} AND (refund OR iade OR "povrat novca" OR rückerstattung OR remboursement) NOT giveaway',
            f"{b} NEAR/5 (broken OR hasarlı OR kaputt OR سيئة OR užas OR terrible) AND NOT lang:ja",
            f'({b} OR "{brand} app") AND (platform:x OR platform:meta) AND -author:{b}_help',
        ]
    return [compile_query(e) for e in expressions]


def rate(label: str, n: int, seconds: float, fn: Callable[[], None]) -> float:
    """Run `fn` (which handles `n` mentions) for about `seconds` of CPU time; print and return mentions/s.

    CPU time of this process is the measure (the figure for one core); wall-clock is printed beside it
    because other processes on a shared machine slow it down.
    """
    done, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        fn()
        done += n
    per_cpu_s = done / (time.process_time() - cpu0)
    per_wall_s = done / (time.perf_counter() - wall0)
    print(f"{label:<44} {per_cpu_s:>9,.0f} mentions/CPU-s {per_wall_s:>9,.0f} mentions/s wall")
    return per_cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=1, help="make each post this many times longer")
    args = parser.parse_args()
    rng = random.Random(7)
    raw = [(" ".join([t] * args.repeat), lang, p, a) for t, lang, p, a in mentions(args.mentions, rng)]
    qs = queries()
    docs: list[Doc] = [prepare(t, language=lang, platform=p, author=a) for t, lang, p, a in raw]
    hits = sum(q.matches(d) for d in docs for q in qs)
    mean_chars = sum(len(t) for t, *_ in raw) / len(raw)
    print(f"{len(qs)} queries, {len(raw)} mentions of {mean_chars:.0f} characters on average")
    print(f"{hits / len(docs):.2f} matches per mention")

    def prepare_all() -> None:
        for t, lang, p, a in raw:
            prepare(t, language=lang, platform=p, author=a)

    def match_all() -> None:
        for d in docs:
            for q in qs:
                q.matches(d)

    def both() -> None:
        for t, lang, p, a in raw:
            d = prepare(t, language=lang, platform=p, author=a)
            for q in qs:
                q.matches(d)

    rate("prepare (fold + tokenise + index)", len(raw), args.seconds, prepare_all)
    rate(f"match {len(qs)} queries on a prepared mention", len(raw), args.seconds, match_all)
    rate(f"prepare + match {len(qs)} queries", len(raw), args.seconds, both)


if __name__ == "__main__":
    main()
