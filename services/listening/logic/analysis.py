# ruff: noqa: RUF001  (word lists in Arabic, Cyrillic and Turkish script are the point)
"""The first analyser: rules only (script, stopwords, small word lists, keyword precedence).

It is deliberately small and honest about what it is (`tier="rules"`): a later tier replaces or
re-scores it behind the same interface, `analyse(text) -> Analysis`.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.events.contracts import Analysis, Intent, Sentiment, SentimentLabel

TIER = "rules"
UNDETERMINED = "und"

# Letters not in the Serbian Cyrillic alphabet: Cyrillic text with them is some other language.
_SERBIAN_CYRILLIC = frozenset("абвгдђежзијклљмнњопрстћуфхцчџш")
# Letters that (almost) only one of our Latin-script languages uses.
_LETTER_HINTS: dict[str, str] = {
    "ı": "tr",
    "ğ": "tr",
    "ş": "tr",
    "đ": "hbs",
    "ć": "hbs",
    "č": "hbs",
    "å": "sv",
    "ß": "de",
    "ñ": "es",
    "¿": "es",
    "¡": "es",
    "œ": "fr",
    "è": "fr",
    "ê": "fr",
    "ù": "fr",
}
_ARABIC_DIACRITICS = re.compile("[\u064b-\u0652\u0640]")
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل")
_URL_OR_HANDLE = re.compile(r"https?://\S+|www\.\S+|@\w+")
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# Negation does not reach across punctuation ("not answering. Terrible!" is still terrible).
_CLAUSE_BREAK = re.compile(r"[.,;:!?؟،\n]+")
_SENTENCE = re.compile(r"[^.!?؟\n]+[.!?؟\n]*")
_EMOJI: dict[str, float] = {
    "😍": 2,
    "🥰": 2,
    "❤": 2,
    "😊": 1,
    "🙂": 1,
    "😀": 1,
    "😃": 1,
    "😁": 1,
    "👍": 1,
    "👏": 1,
    "🎉": 1,
    "🙏": 1,
    "😡": -2,
    "😠": -2,
    "🤬": -2,
    "💔": -2,
    "👎": -1,
    "😞": -1,
    "😢": -1,
    "😭": -1,
    "🙁": -1,
    "☹": -1,
    "😤": -1,
}


def _fold(text: str) -> str:
    """Lower-case for matching; Turkish dotted capital I and Arabic letter variants folded."""
    text = unicodedata.normalize("NFC", text).replace("İ", "i").replace("’", "'").lower()
    if any("\u0600" <= ch <= "\u06ff" for ch in text):
        text = _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_FOLD)
    return text


def _words(spec: str) -> tuple[str, ...]:
    return tuple(_fold(w) for w in spec.split())


def _phrases(spec: str) -> tuple[tuple[str, ...], ...]:
    return tuple(_words(p) for p in spec.split("|"))


def _lexicon(
    positive: str,
    negative: str,
    strong_positive: str = "",
    strong_negative: str = "",
) -> dict[str, float]:
    weights: dict[str, float] = {}
    for spec, weight in ((positive, 1.0), (strong_positive, 2.0), (negative, -1.0), (strong_negative, -2.0)):
        for word in _words(spec):
            weights[word] = weight
    return weights


@dataclass(frozen=True)
class Rules:
    """The word lists of one language; a trailing `*` matches any word with that prefix."""

    stopwords: frozenset[str]
    lexicon: dict[str, float]
    negators: frozenset[str]
    purchase: tuple[tuple[str, ...], ...]
    complaint: tuple[tuple[str, ...], ...]
    question_words: frozenset[str]
    question_particles: frozenset[str] = field(default_factory=frozenset)
    # Words that negate the word before them (Turkish "iyi değil").
    post_negators: frozenset[str] = field(default_factory=frozenset)


RULES: dict[str, Rules] = {
    "en": Rules(
        stopwords=frozenset(
            _words(
                "the a an and or but is are was were be been i you he she it we they my your our this that "
                "these those of to in on for with at from by not do does did have has had what how why when "
                "where who can will would just so very me don't can't there all"
            )
        ),
        lexicon=_lexicon(
            "good nice happy thanks thank glad pleased helpful recommend like liked cool",
            "bad poor slow problem issue fail failed crash* waste annoyed disappointing",
            "great love loved loving awesome amazing excellent fantastic perfect best wonderful brilliant "
            "beautiful superb",
            "terrible awful horrible worst hate hated useless rude angry scam unacceptable ridiculous sucks "
            "disappointed broken",
        ),
        negators=frozenset(
            _words(
                "not no never without nothing isn't wasn't don't doesn't didn't can't "
                "won't aren't couldn't shouldn't"
            )
        ),
        purchase=_phrases(
            "buy|purchase|how much|price|prices|pricing|in stock|to order|place an order|want to get"
        ),
        complaint=_phrases(
            "refund|complaint|complain|not working|doesn't work|does not work|still waiting|"
            "never arrived|cancel|broken|unacceptable|fix this"
        ),
        question_words=frozenset(
            _words("how what why when where who which can could does do is are will would anyone any should")
        ),
    ),
    "sv": Rules(
        stopwords=frozenset(
            _words(
                "och att det som en ett är jag du han hon vi ni de den inte på med för till av om men har "
                "hade kan ska mycket min mitt din här där hur vad varför när vem också bara nu så eller från "
                "alla efter mig dig sig i"
            )
        ),
        lexicon=_lexicon(
            "bra tack trevlig* nöjd nöjda fin fint glad rekommenderar snabb",
            "dålig dåligt dåliga problem fel långsam* irriterad",
            "bäst bästa toppen grym* underbar* fantastisk* älskar perfekt kanon suverän*",
            "sämst sämsta hemsk* hatar besviken besvikna fruktansvärd* värdelös* arg oacceptabel* "
            "katastrof* usel* trasig*",
        ),
        negators=frozenset(_words("inte aldrig ej ingen inget")),
        purchase=_phrases("köpa|köper|vad kostar|kostar|pris|priset|beställa|i lager"),
        complaint=_phrases(
            "reklamation|reklamera|klagomål|fungerar inte|funkar inte|återbetalning|"
            "väntar fortfarande|trasig*"
        ),
        question_words=frozenset(_words("hur vad varför när vem vilken vilket vilka kan finns går")),
    ),
    "tr": Rules(
        stopwords=frozenset(
            _words(
                "ve bir bu şu o da de ki mi mı mu mü ne için ile çok daha ben sen biz siz onlar var yok "
                "değil gibi ama fakat nasıl neden niye nerede hangi kadar sonra şimdi her hiç olarak benim "
                "bana sana artık hala hâlâ zaman"
            )
        ),
        lexicon=_lexicon(
            "güzel iyi memnun* teşekkür* tesekkur* sağol* başarılı tavsiye* sevdim seviyorum",
            "kötü bozuk sorun* problem* yavaş maalesef",
            "harika mükemmel süper bayıldım muhteşem",
            "berbat rezalet rezil nefret felaket saçma beğenmedim kırıklığı",
        ),
        negators=frozenset(),
        purchase=_phrases("satın al*|fiyat*|kaç para|ne kadar tutar|sipariş ver*|almak istiyorum|stokta"),
        complaint=_phrases("şikayet*|iade|çalışmıyor|gelmedi|bozuk|hala bekliyorum|hâlâ bekliyorum"),
        question_words=frozenset(_words("nasıl neden niye niçin nerede nereden hangi kim kaç")),
        question_particles=frozenset(
            _words(
                "mi mı mu mü misin mısın musun müsün misiniz mısınız musunuz müsünüz miyim mıyım muyum "
                "müyüm midir mıdır mudur müdür"
            )
        ),
        post_negators=frozenset(_words("değil degil")),
    ),
    "de": Rules(
        stopwords=frozenset(
            _words(
                "der die das und ist nicht ein eine einen ich du er sie es wir ihr mit auf für von zu "
                "den dem des sich auch aber noch nur schon wie was warum wann wo wer kann habe hat sehr "
                "mein meine kein keine bei aus dass oder im"
            )
        ),
        lexicon=_lexicon(
            "gut danke dank schön zufrieden empfehle* prima",
            "schlecht* problem* langsam leider ärger*",
            "super toll großartig ausgezeichnet perfekt liebe lieben klasse hervorragend genial beste*",
            "schlimm* furchtbar schrecklich katastrophe hasse kaputt enttäuscht unverschämt mies unzufrieden",
        ),
        negators=frozenset(_words("nicht kein keine keinen nie niemals")),
        purchase=_phrases("kaufen|kauf|bestellen|preis*|wie viel kostet|kostet|auf lager"),
        complaint=_phrases(
            "beschwerde|reklamation|funktioniert nicht|erstattung|rückerstattung|kaputt|warte immer noch"
        ),
        question_words=frozenset(
            _words("wie was warum wann wo wer welche welcher welches gibt kann können ist habt hat")
        ),
    ),
    "fr": Rules(
        stopwords=frozenset(
            _words(
                "le la les un une des du de et est sont je tu il elle nous vous ils elles pas ne que qui "
                "pour dans sur avec ce cette mais ou où très mon ma mes votre vos c j l d n qu au aux ai été"
            )
        ),
        lexicon=_lexicon(
            "bon bien aime merci content satisfait recommande",
            "mauvais* problème lent* dommage",
            "super génial excellent parfait adore magnifique formidable meilleur*",
            "nul horrible terrible déteste cassé* déçu* pire honte inacceptable arnaque insatisfait "
            "catastrophe",
        ),
        negators=frozenset(_words("pas jamais ne ni sans")),
        purchase=_phrases("acheter|achète|prix|combien|commander|en stock"),
        complaint=_phrases("plainte|remboursement|ne marche pas|ne fonctionne pas|cassé*|réclamation"),
        question_words=frozenset(
            _words("comment pourquoi quand où qui quel quelle quels quelles combien est")
        ),
    ),
    "es": Rules(
        stopwords=frozenset(
            _words(
                "el la los las un una unos y es son está están de del en que por para con no yo tú él ella "
                "nosotros mi mis su sus muy pero como cómo qué se lo al me te este esta esto hay"
            )
        ),
        lexicon=_lexicon(
            "bueno buena gracias feliz recomiendo mejor contento contenta",
            "malo mala problema lento lenta",
            "genial excelente perfecto perfecta encanta amo maravillos* increíble",
            "terrible horrible odio peor roto rota decepcionad* pésimo pésima vergüenza estafa fatal",
        ),
        negators=frozenset(_words("no nunca ni sin")),
        purchase=_phrases("comprar|compro|precio*|cuánto cuesta|cuanto cuesta|cuesta|hacer un pedido"),
        complaint=_phrases("queja|reembolso|reclamación|no funciona|roto|rota"),
        question_words=frozenset(_words("cómo qué cuándo dónde quién cuál cuánto alguien como donde")),
    ),
    "hbs": Rules(
        stopwords=frozenset(
            _words(
                "i a je su sam si smo ste ne nije da li u na za od do sa s se to ovo ono taj ta koji koja "
                "što šta kako zašto kada kad gdje gde ja ti on ona mi vi oni ali ili samo još već bio "
                "bila biti nisam nema ima vam vas nas mene meni jako baš mnogo puno"
            )
        ),
        lexicon=_lexicon(
            "dobar dobra dobro hvala zadovolj* preporučujem preporucujem lijep* lep*",
            "loš* los* problem* spor* sporo",
            "odličan odlična odlično odlicno odlican super sjajn* volim savršen* savrsen* predivn* najbolj* "
            "fantastičn*",
            "užasn* uzasn* grozn* mrzim pokvaren* razočaran* razocaran* katastrof* sramota najgor* prevara "
            "nezadovolj* očajn* ocajn*",
        ),
        negators=frozenset(_words("ne nije nisam nisu nismo niste nikad nikada bez nema")),
        purchase=_phrases(
            "kupiti|kupim|kupujem|cijena|cijenu|cijene|cena|cenu|cene|koliko košta|"
            "koliko kosta|košta|kosta|naručiti|naruciti|naručim|narucim"
        ),
        complaint=_phrases("reklamacij*|žalb*|zalb*|ne radi|povrat novca|pokvaren*|još čekam|jos cekam"),
        question_words=frozenset(
            _words("kako šta sta što zašto zasto kada kad gdje gde ko tko koji koja koje jel")
        ),
        question_particles=frozenset(_words("li jel")),
    ),
    "sr": Rules(
        stopwords=frozenset(
            _words(
                "и а је су сам си смо сте не није да ли у на за од до са се то ово оно који која шта како "
                "зашто када где ја ти он она ми ви они али или само још већ"
            )
        ),
        lexicon=_lexicon(
            "добар добра добро хвала задовољ*",
            "лош* проблем* спор*",
            "одлично одличан супер сјајн* волим савршен* најбољ*",
            "ужасн* грозн* мрзим покварен* разочаран* срамота најгор* превара",
        ),
        negators=frozenset(_words("не није нисам нису никад без нема")),
        purchase=_phrases("купити|купим|цена|цену|кошта|наручити"),
        complaint=_phrases("жалб*|рекламациј*|не ради|покварен*"),
        question_words=frozenset(_words("како шта зашто када где ко који јел")),
        question_particles=frozenset(_words("ли јел")),
    ),
    "ar": Rules(
        stopwords=frozenset(
            _words(
                "في من على الى إلى عن مع هذا هذه ذلك التي الذي هو هي انا أنا نحن انت "
                "أنت كان لا ما لم لن و او أو ثم قد كل"
            )
        ),
        lexicon=_lexicon(
            "جيد جميل شكرا شكر سعيد انصح أنصح",
            "سيء سيئ سيئة سئ مشكلة بطيء معطل رديء للاسف",
            "ممتاز ممتازة رائع رائعة أحب احب افضل أفضل مذهل روعة",
            "فظيع زفت اكره أكره مكسور خرب محبط سرقة نصب أسوأ مخيب",
        ),
        negators=frozenset(_words("لا ليس ما لم لن غير مش مو")),
        purchase=_phrases("شراء|اشتري|أشتري|سعر|بكم|كم سعر|اطلب|أطلب|متوفر"),
        complaint=_phrases("شكوى|استرجاع|استرداد|لا يعمل|ما يشتغل|معطل|خربان"),
        question_words=frozenset(_words("كيف متى لماذا ليش اين أين هل ماذا كم وين شو ايش")),
    ),
}
LATIN_LANGUAGES = ("en", "sv", "tr", "de", "fr", "es", "hbs")


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff"


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u052f"


def _tokens(text: str) -> list[str]:
    """Word tokens of folded text; elided words are split (`c'est` → `c`, `est`), `n't` is kept."""
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if "'" in tok and not tok.endswith("n't"):
            out.extend(part for part in tok.split("'") if part)
        else:
            out.append(tok)
    return out


def _variants(token: str) -> Iterable[str]:
    """The token and, for Arabic, the token without its clitic prefixes (و, ال, ب …)."""
    yield token
    if token and _is_arabic(token[0]):
        for prefix in _ARABIC_PREFIXES:
            if token.startswith(prefix) and len(token) - len(prefix) >= 2:
                yield token[len(prefix) :]


def _in_set(token: str, words: frozenset[str]) -> bool:
    return any(v in words for v in _variants(token))


def detect_language(text: str) -> str:
    """ISO 639 code by script, then by stopwords and telltale letters; `und` when unsure."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return UNDETERMINED
    arabic = sum(1 for ch in letters if _is_arabic(ch))
    cyrillic = [ch.lower() for ch in letters if _is_cyrillic(ch)]
    if arabic * 2 >= len(letters):
        return "ar"
    if len(cyrillic) * 2 >= len(letters):
        # Russian, Ukrainian, Bulgarian … use letters Serbian does not have: not ours to guess.
        return "sr" if set(cyrillic) <= _SERBIAN_CYRILLIC else UNDETERMINED
    folded = _fold(text)
    tokens = _tokens(folded)
    scores = {lang: float(sum(1 for t in tokens if t in RULES[lang].stopwords)) for lang in LATIN_LANGUAGES}
    for ch in set(folded):
        hinted = _LETTER_HINTS.get(ch)
        if hinted is not None:
            scores[hinted] += 1.0
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score < 1 or best_score == second_score:
        return UNDETERMINED
    return best


@dataclass(frozen=True)
class _Compiled:
    """The word lists that apply to posts in one language, merged once and indexed for lookups."""

    lexicon: dict[str, float]
    lexicon_prefixes: tuple[tuple[str, float], ...]
    negators: frozenset[str]
    post_negators: frozenset[str]
    question_words: frozenset[str]
    question_particles: frozenset[str]
    purchase: tuple[tuple[str, ...], ...]
    complaint: tuple[tuple[str, ...], ...]
    phrase_words: frozenset[str]
    phrase_prefixes: tuple[str, ...]


@functools.cache
def _compiled(language: str) -> _Compiled:
    """Rules to apply: the post's language plus English (often mixed in); every language when unsure."""
    if language not in RULES:
        chosen = list(RULES.values())
    else:
        names = [language, "en", *(["hbs"] if language == "sr" else [])]
        chosen = [RULES[n] for n in dict.fromkeys(names)]
    lexicon: dict[str, float] = {}
    prefixes: dict[str, float] = {}
    for r in chosen:
        for word, weight in r.lexicon.items():
            target = prefixes if word.endswith("*") else lexicon
            target.setdefault(word, weight)
    purchase = tuple(p for r in chosen for p in r.purchase)
    complaint = tuple(p for r in chosen for p in r.complaint)
    words = {w for phrase in purchase + complaint for w in phrase}
    return _Compiled(
        lexicon=lexicon,
        lexicon_prefixes=tuple(sorted(prefixes.items(), key=lambda wv: len(wv[0]), reverse=True)),
        negators=frozenset().union(*(r.negators for r in chosen)),
        post_negators=frozenset().union(*(r.post_negators for r in chosen)),
        question_words=frozenset().union(*(r.question_words for r in chosen)),
        question_particles=frozenset().union(*(r.question_particles for r in chosen)),
        purchase=purchase,
        complaint=complaint,
        phrase_words=frozenset(w for w in words if not w.endswith("*")),
        phrase_prefixes=tuple(w for w in words if w.endswith("*")),
    )


class _Matcher:
    """Looks words up in one post, once per distinct word (posts repeat words; up to 10,000 chars)."""

    def __init__(self, rules: _Compiled) -> None:
        self.rules = rules
        self._weights: dict[str, float] = {}
        self._patterns: dict[str, frozenset[str]] = {}

    def weight(self, token: str) -> float:
        """The sentiment weight of a word (0 when it carries none)."""
        cached = self._weights.get(token)
        if cached is not None:
            return cached
        variants = tuple(_variants(token))
        weight = next((self.rules.lexicon[v] for v in variants if v in self.rules.lexicon), 0.0)
        if not weight:
            weight = next(
                (w for p, w in self.rules.lexicon_prefixes if any(v.startswith(p[:-1]) for v in variants)),
                0.0,
            )
        self._weights[token] = weight
        return weight

    def patterns(self, token: str) -> frozenset[str]:
        """The phrase words (`buy`, `preis*` …) this word matches."""
        cached = self._patterns.get(token)
        if cached is None:
            variants = tuple(_variants(token))
            found = {v for v in variants if v in self.rules.phrase_words}
            found.update(p for p in self.rules.phrase_prefixes if any(v.startswith(p[:-1]) for v in variants))
            cached = self._patterns[token] = frozenset(found)
        return cached

    def has_phrase(self, tokens: Sequence[str], phrases: Iterable[tuple[str, ...]]) -> bool:
        """Whether any phrase occurs as consecutive words."""
        matched = [self.patterns(t) for t in tokens]
        starts: dict[str, list[int]] = {}
        for i, found in enumerate(matched):
            for pattern in found:
                starts.setdefault(pattern, []).append(i)
        for phrase in phrases:
            for i in starts.get(phrase[0], ()):
                if i + len(phrase) <= len(tokens) and all(
                    phrase[j] in matched[i + j] for j in range(1, len(phrase))
                ):
                    return True
        return False


def score_sentiment(text: str, clauses: Sequence[Sequence[str]], matcher: _Matcher) -> Sentiment:
    """Sum of word weights (flipped after a negator in the same clause) and emoji, squashed into -1..1."""
    rules = matcher.rules
    raw = 0.0
    for tokens in clauses:
        for i, tok in enumerate(tokens):
            weight = matcher.weight(tok)
            if not weight:
                continue
            negated = any(_in_set(prev, rules.negators) for prev in tokens[max(0, i - 3) : i])
            if i + 1 < len(tokens) and tokens[i + 1] in rules.post_negators:
                negated = not negated
            raw += -weight if negated else weight
    raw += sum(_EMOJI.get(ch, 0.0) for ch in text)
    score = round(raw / math.sqrt(raw * raw + 4.0), 3)
    label: SentimentLabel = "positive" if score > 0.05 else "negative" if score < -0.05 else "neutral"
    return Sentiment(label=label, score=score)


def _is_question(folded: str, rules: _Compiled) -> bool:
    if "?" in folded or "؟" in folded:
        return True
    for sentence in _SENTENCE.findall(folded):
        tokens = _tokens(sentence)
        if not tokens or sentence.rstrip().endswith("!"):
            continue
        if _in_set(tokens[0], rules.question_words) or any(t in rules.question_particles for t in tokens):
            return True
    return False


def classify_intent(folded: str, tokens: Sequence[str], sentiment: Sentiment, matcher: _Matcher) -> Intent:
    """purchase_intent > complaint > question > praise > other."""
    if matcher.has_phrase(tokens, matcher.rules.purchase):
        return "purchase_intent"
    if sentiment.label == "negative" or matcher.has_phrase(tokens, matcher.rules.complaint):
        return "complaint"
    if _is_question(folded, matcher.rules):
        return "question"
    if sentiment.label == "positive":
        return "praise"
    return "other"


def analyse(text: str) -> Analysis:
    """Language, sentiment and intent of one post, by rules."""
    cleaned = _URL_OR_HANDLE.sub(" ", text)
    language = detect_language(cleaned)
    matcher = _Matcher(_compiled(language))
    folded = _fold(cleaned)
    tokens = _tokens(folded)
    clauses = [_tokens(clause) for clause in _CLAUSE_BREAK.split(folded)]
    sentiment = score_sentiment(cleaned, clauses, matcher)
    intent = classify_intent(folded, tokens, sentiment, matcher)
    return Analysis(language=language, sentiment=sentiment, intent=intent, tier=TIER)
