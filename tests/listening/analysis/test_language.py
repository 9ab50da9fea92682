"""Language detection over a wide set: ours, foreign languages under their own code, hbs, und."""

from __future__ import annotations

import pytest

from services.listening.analysis import SUPPORTED, detect

OURS = [
    ("Where is my parcel? It was due yesterday.", "en"),
    ("وين طلبي؟ صار لي أسبوع أنتظر", "ar"),
    ("Gdje je moja narudžba? Čekam već tri dana.", "hbs"),
    ("Var är mitt paket? Det skulle komma igår.", "sv"),
    ("Siparişim nerede? Dün gelmesi gerekiyordu.", "tr"),
    ("Wo ist mein Paket? Es sollte gestern kommen.", "de"),
    ("Où est mon colis ? Il devait arriver hier.", "fr"),
    ("¿Dónde está mi paquete? Tenía que llegar ayer.", "es"),
]

FOREIGN = [
    ("Dov'è il mio pacco? Doveva arrivare ieri.", "it"),
    ("Gdzie jest moja paczka? Miała przyjść wczoraj.", "pl"),
    ("Waar is mijn pakket? Het zou gisteren komen.", "nl"),
    ("Onde está a minha encomenda? Devia ter chegado ontem.", "pt"),
    ("Kje je moj paket? Moral bi priti včeraj.", "sl"),
    ("Где моя посылка? Она должна была прийти вчера.", "ru"),
]


@pytest.mark.parametrize(("text", "code"), OURS)
def test_our_languages_are_detected(text: str, code: str) -> None:
    assert detect(text).language == code


@pytest.mark.parametrize(("text", "code"), FOREIGN)
def test_foreign_languages_get_their_own_code_never_one_of_ours(text: str, code: str) -> None:
    guess = detect(text)
    assert guess.language not in SUPPORTED
    assert guess.language == code


def test_cyrillic_bcs_is_hbs_with_serbian_variant_hint() -> None:
    guess = detect("Интернет не ради од јуче ујутру, неприхватљиво")
    assert guess.language == "hbs"
    assert guess.variant == "sr"


def test_latin_bcs_is_hbs_with_a_weak_variant_hint() -> None:
    guess = detect("Hvala vam puno, dostava je bila jako brza!")
    assert guess.language == "hbs"
    assert guess.variant in {"hr", "sr", "bs"}
    assert guess.variant_confidence is not None and guess.variant_confidence <= 0.6
    assert guess.as_dict()["variant"] == guess.variant


@pytest.mark.parametrize(
    "text", ["😀😀🔥", "ok", "lol", "👍", "@zipcart #fail", "https://example.com/x", "   "]
)
def test_emoji_only_and_very_short_posts_are_und(text: str) -> None:
    guess = detect(text)
    assert guess.language == "und"
    assert "variant" not in guess.as_dict()


def test_confidence_is_between_zero_and_one_and_lower_for_short_posts() -> None:
    long = detect("Die Lieferung kam viel zu spät und der Kundenservice hat nie geantwortet.")
    short = detect("Danke schön")
    assert 0.0 <= short.confidence <= long.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "ya jama3a el order ba2alo usbu3 ma wesel",
        "mafi 7ada byrod 3al telefon, shu hal 5edme",
        "mashkourin ktir, el 5edme kanet 7elwe",
    ],
)
def test_arabizi_is_arabic(text: str) -> None:
    assert detect(text).language == "ar"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("My Voltra X3 arrived with 2 scratches on the door", "en"),
        ("Paket 3 dana kasni, a broj 2 ne odgovara", "hbs"),
        ("Beställde 3 st men fick 2", "sv"),
    ],
)
def test_digits_in_latin_posts_are_not_arabizi(text: str, code: str) -> None:
    assert detect(text).language == code


def test_short_slangy_posts_in_our_languages_are_not_und() -> None:
    assert detect("tbh the new app kinda slaps ngl").language == "en"
