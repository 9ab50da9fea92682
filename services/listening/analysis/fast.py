# ruff: noqa: RUF001  (Turkish, Arabic and Cyrillic letters are the point)
"""Fast tier: hand-written lexicons and rules (tens of thousands of posts per second per core).

Sentiment sums word/phrase/emoji valences (negation within three words flips and dampens, an
intensifier boosts) and squashes the sum to -1..1. Intent applies precedence
purchase_intent > complaint > question > praise > other, because a question mark alone is a poor cue
(purchase and help requests are questions too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .language import CONFIDENCE_FLOOR, SUPPORTED, LanguageGuess
from .lexicon_data import COLLOQUIAL, EMOJI, LEXICONS, LangLexicon
from .normalise import Normalised, bare, fold
from .types import Intent, IntentLabel, Sentiment, SentimentLabel

_AR_CLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل")
_TR_QUESTION_PARTICLES = frozenset(
    {
        "mı",
        "mi",
        "mu",
        "mü",
        "mısın",
        "misin",
        "musun",
        "müsün",
        "mıyım",
        "miyim",
        "mıdır",
        "midir",
        "mısınız",
        "misiniz",
        "musunuz",
        "müsünüz",
    }
)
POSITIVE_AT = 0.2
NEGATIVE_AT = -0.2
# Negators that say "none of": a complaint cue under one of these ("no problems", "hiç şikayetim",
# "nikakvih problema", "inga problem", "أي مشكلة") is a negated negative, not a complaint.
_NONE_OF = frozenset(
    {"no", "zero", "nikakvih", "nikakav", "nikakve", "nijedan", "nijedne", "inga", "ingen", "inget"}
)
_NONE_OF |= frozenset({"hiç", "hiçbir", "hic", "hicbir", "اي", "بدون"})
# "At all" words: a negative word denied with one of these near it ("not bad at all", "inte ett dugg
# missnöjd", "nije uopšte loše", "مش وحش ابدا") is a negated negative whatever its weight, and an
# emphatic one.
_AT_ALL = frozenset(
    {"alls", "dugg", "uopšte", "uopste", "uopće", "uopce", "nimalo", "hiç", "hic", "ابدا", "بالمره", "نهائيا"}
)
# Verbs and nouns of complaining: under a negator ("can't complain", "nemam zamjerki") they praise.
_COMPLAIN_VERBS: dict[str, list[str]] = {
    "en": ["complain*", "moan*", "grumble"],
    "sv": ["klaga*", "klagom*", "anmärkning*"],
    "hbs": ["žali*", "požali*", "zamjer*", "zamer*", "prigovor*", "prigovori*"],
    "tr": ["şikayet*", "şikâyet*", "yakın*"],
    "ar": ["اشتكي", "اشتكى", "أشتكي", "شكوى", "شكاوي", "تشكي"],
    "de": ["beschwer*", "meckern", "klagen"],
    "fr": ["plaindre", "plains", "plainte*", "râler"],
    "es": ["quej*"],
}
# Complaint cues that stay complaints under a negator: remedies asked for, repeats, payments.
_REMEDY = (
    "refund",
    "fix",
    "cancel",
    "again",
    "paid",
    "povrat",
    "otkaz",
    "vrat",
    "återbetal",
    "iade",
    "iptal",
    "استرجاع",
    "استرداد",
    "الغاء",
)
_SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)} | {"\ufe0f"}


@dataclass
class _Compiled:
    exact: dict[str, float] = field(default_factory=dict)
    prefix: dict[str, float] = field(default_factory=dict)
    prefix_lengths: list[int] = field(default_factory=list)
    phrases: dict[str, float] = field(default_factory=dict)
    negators: frozenset[str] = frozenset()
    intensifiers: frozenset[str] = frozenset()
    cues: dict[str, _Cues] = field(default_factory=dict)
    question_words: frozenset[str] = frozenset()


@dataclass
class _Cues:
    exact: frozenset[str] = frozenset()
    prefix: frozenset[str] = frozenset()
    prefix_lengths: tuple[int, ...] = ()
    phrases: tuple[str, ...] = ()

    def hits(self, tokens: list[str], padded: str) -> int:
        n = sum(1 for p in self.phrases if p in padded)
        for tok in tokens:
            if tok in self.exact:
                n += 1
            elif self.prefix_lengths and any(
                tok[:k] in self.prefix for k in self.prefix_lengths if k <= len(tok)
            ):
                n += 1
        return n


def _with_bare(words: list[str], code: str) -> list[str]:
    """The words, plus each one without its diacritics (see `normalise.bare`)."""
    out = list(words)
    out += [b for w in words if (b := bare(fold(w, code), code)) != fold(w, code)]
    return out


def _cues(words: list[str], lang: str) -> _Cues:
    exact: set[str] = set()
    prefix: set[str] = set()
    phrases: list[str] = []
    for w in words:
        f = fold(w, lang).replace("-", " ")
        if " " in f:
            phrases.append(f" {f[:-1]}" if f.endswith("*") else f" {f} ")
        elif f.endswith("*"):
            prefix.add(f[:-1])
        else:
            exact.add(f)
    return _Cues(frozenset(exact), frozenset(prefix), tuple(sorted({len(p) for p in prefix})), tuple(phrases))


def _compile(lexes: list[tuple[str, LangLexicon]]) -> _Compiled:
    c = _Compiled()
    negators: set[str] = set()
    intensifiers: set[str] = set()
    question: set[str] = set()
    cue_words: dict[str, list[str]] = {"purchase": [], "complaint": [], "question": [], "praise": []}
    complain_verbs: list[str] = []
    lang = lexes[0][0] if len(lexes) == 1 else None
    for code, lex in lexes:
        words = {**lex["sentiment"], **COLLOQUIAL.get(code, {})}
        folded = {fold(word, code).replace("-", " "): float(weight) for word, weight in words.items()}
        # Each word also without its diacritics, where that is not another word of the lexicon.
        for f, weight in list(folded.items()):
            folded.setdefault(bare(f, code), weight)
        for f, weight in folded.items():
            if " " in f:
                c.phrases[f" {f} "] = weight
            elif f.endswith("*"):
                c.prefix[f[:-1]] = weight
            else:
                c.exact[f] = weight
        negators.update(fold(w, code) for w in lex["negators"])
        intensifiers.update(fold(w, code) for w in lex["intensifiers"])
        question.update(fold(w, code) for w in lex["question"] if " " not in w and "-" not in w)
        for key in cue_words:
            cue_words[key].extend(_with_bare(lex[key], code))  # type: ignore[literal-required]
        complain_verbs.extend(_with_bare(_COMPLAIN_VERBS.get(code, []), code))
    c.prefix_lengths = sorted({len(p) for p in c.prefix}, reverse=True)
    c.negators = frozenset(negators)
    c.intensifiers = frozenset(intensifiers)
    c.question_words = frozenset(question)
    c.cues = {k: _cues(v, lang or "") for k, v in cue_words.items()}
    c.cues["complain_verb"] = _cues(complain_verbs, lang or "")
    # Question phrases ("is there", "do you") count as question openers too.
    return c


_COMPILED: dict[str, _Compiled] = {code: _compile([(code, lex)]) for code, lex in LEXICONS.items()}
_MERGED = _compile(list(LEXICONS.items()))


def _lookup(c: _Compiled, tok: str, arabic: bool) -> float:
    w = c.exact.get(tok)
    if w is not None:
        return w
    for k in c.prefix_lengths:
        if k <= len(tok):
            w = c.prefix.get(tok[:k])
            if w is not None:
                return w
    if arabic:
        for clitic in _AR_CLITICS:
            if tok.startswith(clitic) and len(tok) - len(clitic) >= 2:
                return _lookup(c, tok[len(clitic) :], False)
    return 0.0


def _emoji_valence(emojis: list[str]) -> float:
    total = 0.0
    for e in emojis:
        w = EMOJI.get(e)
        if w is None:
            w = EMOJI.get("".join(ch for ch in e if ch not in _SKIN_TONES), 0.0)
        total += w
    return total


@dataclass(frozen=True)
class Evidence:
    """What the lexicons see in a post, apart from the verdict: the cue rules (`cues.py`) read it."""

    positive: float  # sum of positive word weights that are not negated
    negative: float  # negative words not negated plus negated positive words ("not happy"), <= 0
    negated_negative: int  # negative words or complaint cues under a negator ("not bad", "no problems")
    complaint: int  # complaint cues that are not negated
    praise: int
    purchase: int
    negated_complaint: int = 0  # of `negated_negative`: a complaining verb denied ("can't complain")
    emphatic: int = 0  # of `negated_negative`: denied with "at all" ("not bad at all", "nije uopšte loše")


class FastTier:
    """Lexicon and rule analyser; no state beyond the compiled lexicons."""

    name = "fast"

    def sentiment(self, norm: Normalised, lang: LanguageGuess) -> Sentiment:
        """Sentiment from lexicon hits, negation, intensifiers and emoji."""
        label, score, conf, _ = self._sentiment(norm, lang)
        return Sentiment(label, score, conf)

    def _table(self, lang: LanguageGuess) -> tuple[_Compiled, bool]:
        code = lang.language
        if code in SUPPORTED:
            # An unsure language (short slang, code-switching) reads every lexicon.
            return (_COMPILED[code] if lang.confidence >= CONFIDENCE_FLOOR else _MERGED), True
        return _MERGED, False

    def _sentiment(self, norm: Normalised, lang: LanguageGuess) -> tuple[SentimentLabel, float, float, int]:
        table, known = self._table(lang)
        tokens = norm.tokens
        arabic = lang.language == "ar" or not known
        total = 0.0
        hits = 0
        spent = -1  # a negator is spent on the first lexicon word it negates
        for i, tok in enumerate(tokens):
            w = _lookup(table, tok, arabic)
            if not w:
                continue
            hits += 1
            window = tokens[max(0, i - 3, spent + 1) : i]
            if any(t in table.negators for t in window) or (
                lang.language == "tr" and i + 1 < len(tokens) and tokens[i + 1] == "değil"
            ):
                w *= -0.6
                spent = i
            elif window and window[-1] in table.intensifiers:
                w *= 1.3
            total += w
        if table.phrases:
            padded = " " + " ".join(tokens) + " "
            for phrase, w in table.phrases.items():
                if phrase in padded:
                    total += w
                    hits += 1
        if norm.emojis:
            ev = _emoji_valence(norm.emojis)
            if ev:
                total += ev
                hits += 1
        if total and norm.text.count("!") >= 2:
            total *= 1.15
        score = total / math.sqrt(total * total + 15.0)
        label: SentimentLabel
        if score >= POSITIVE_AT:
            label = "positive"
        elif score <= NEGATIVE_AT:
            label = "negative"
        else:
            label = "neutral"
        if hits == 0:
            conf = 0.45
        elif label == "neutral":
            conf = 0.4
        else:
            conf = min(0.9, 0.45 + 0.5 * abs(score) + 0.05 * min(hits, 3))
        if not known:
            conf *= 0.6
        return label, score, round(conf, 3), hits

    def negators(self, lang: LanguageGuess) -> frozenset[str]:
        """The negating words of the lexicon this post is read with."""
        return self._table(lang)[0].negators

    def evidence(self, norm: Normalised, lang: LanguageGuess) -> Evidence:
        """Positive and negative words, negated negatives and intent cues, counted apart."""
        table, _ = self._table(lang)
        tokens = norm.tokens
        arabic = lang.language == "ar"
        pos = neg = 0.0
        negated_negative = 0
        emphatic = 0
        none_of_at: set[int] = set()
        # "yok"/"değil" right after a denied word belong to the denial, not to the post's complaints.
        denial: set[int] = set()
        at_all = {
            i
            for i, t in enumerate(tokens)
            if t in _AT_ALL or (t == "all" and i > 0 and tokens[i - 1] == "at")
        }
        # A negator's scope ends at the negative word it denies: in "nije loše, konačno radi" the "nije"
        # is spent on "loše" and does not reach "konačno".
        spent = -1
        for i, tok in enumerate(tokens):
            window = tokens[max(0, i - 3, spent + 1) : i]
            negated = any(t in table.negators for t in window) or (
                i + 1 < len(tokens) and tokens[i + 1] in table.negators and lang.language in ("tr", "ar")
            )
            if any(t in _NONE_OF for t in window) or (
                i + 1 < len(tokens)
                and tokens[i + 1] in ("yok", "ما", "مافي")
                and lang.language in ("tr", "ar")
            ):
                none_of_at.add(i)
            w = 0.0 if i in denial else _lookup(table, tok, arabic)
            # Turkish and Arabic negate the word itself right after it ("fena değil", "وحش مش"...).
            denied_right_after = i + 1 < len(tokens) and tokens[i + 1] in ("değil", "degil")
            stressed = w < 0 and negated and any(abs(k - i) <= 3 for k in at_all)
            emphatic += stressed
            if w < 0 and negated and (w <= -3 or i in none_of_at or denied_right_after or stressed):
                # "not bad", "nije loše", "no problems", "fena değil": a strong negative word under any
                # negator, or any negative word under a "none of" negator or denied right after it.
                negated_negative += 1
                spent = i
                if i + 1 < len(tokens) and tokens[i + 1] in ("yok", "değil", "degil"):
                    denial.add(i + 1)
            elif w < 0 and negated:
                pass
            elif w > 0 and negated:
                neg -= 0.6 * w
            elif w > 0:
                pos += w
            elif w < 0:
                neg += w
        padded = " " + " ".join(tokens) + " "
        complaint_cues = table.cues["complaint"]
        complaint = complaint_cues.hits(tokens, padded) if tokens else 0
        # A complaint cue under a negator ("can't complain", "no problem") is not a complaint.
        # A complaint cue denied after it ("şikayetim yok") is not a complaint either.
        for i in none_of_at:
            denied_after = i + 1 < len(tokens) and tokens[i + 1] in ("yok", "değil")
            if denied_after and complaint_cues.hits([tokens[i]], ""):
                negated_negative += 1
                complaint -= 1
        # A word of failure denied right before it ("se konačno ne ruši", "ما يعلق", "never crashes") is
        # not a complaint; a remedy or a repeat denied ("not refunded", "not again") still is.
        # Only while complaint cues are left to deny, and the cue lists are read last (most posts have none).
        for i, tok in enumerate(tokens):
            if complaint <= 0:
                break
            if i in none_of_at or not any(t in table.negators for t in tokens[max(0, i - 2) : i]):
                continue
            if not tok.startswith(_REMEDY) and complaint_cues.hits([tok], ""):
                negated_negative += 1
                complaint -= 1
        # A complaining verb under a negator right before it: "can't complain", "kan inte klaga",
        # "ne mogu se požaliti", "nemam zamjerki".
        verbs = table.cues["complain_verb"]
        negated_complaint = 0
        for i, tok in enumerate(tokens):
            if not verbs.hits([tok], ""):
                continue
            if any(t in table.negators or t in _NONE_OF for t in tokens[max(0, i - 3) : i]):
                negated_negative += 1
                negated_complaint += 1
                complaint -= 1
        return Evidence(
            pos,
            neg,
            negated_negative,
            max(0, complaint),
            table.cues["praise"].hits(tokens, padded),
            table.cues["purchase"].hits(tokens, padded),
            negated_complaint,
            emphatic,
        )

    def intent(self, norm: Normalised, lang: LanguageGuess, sentiment: Sentiment) -> Intent:
        """Intent by cue words with precedence purchase_intent > complaint > question > praise > other."""
        table, known = self._table(lang)
        tokens = norm.tokens
        padded = " " + " ".join(tokens) + " "
        purchase = table.cues["purchase"].hits(tokens, padded)
        complaint = table.cues["complaint"].hits(tokens, padded)
        praise = table.cues["praise"].hits(tokens, padded)
        qmark = "?" in norm.text or "؟" in norm.text
        opener = bool(tokens) and (
            tokens[0] in table.question_words
            or (len(tokens) > 1 and tokens[1] in table.question_words)
            or any(padded.startswith(p) for p in table.cues["question"].phrases)
        )
        particle = lang.language == "tr" and any(t in _TR_QUESTION_PARTICLES for t in tokens)
        question = qmark or opener or particle
        s = sentiment.score
        scores = {
            "purchase_intent": min(1.0, 0.3 * purchase),
            "complaint": min(1.0, 0.3 * complaint + max(0.0, -s)),
            "question": (0.5 if qmark else 0.0) + (0.3 if opener or particle else 0.0),
            "praise": min(1.0, 0.3 * praise + max(0.0, s)),
        }
        label: IntentLabel
        if purchase and s > -0.35:
            label, conf = "purchase_intent", 0.55 + 0.1 * min(purchase, 3)
        elif (complaint and s < 0.3) or s <= NEGATIVE_AT:
            label, conf = "complaint", 0.5 + 0.1 * min(complaint, 2) + 0.2 * min(1.0, -s)
        elif question:
            label, conf = "question", 0.5 + (0.15 if qmark else 0.0) + (0.15 if opener or particle else 0.0)
        elif (praise and s > -0.1) or s >= POSITIVE_AT:
            label, conf = "praise", 0.5 + 0.1 * min(praise, 2) + 0.2 * max(0.0, s)
        else:
            label, conf = "other", 0.45
        scores["other"] = 0.45 if label == "other" else 0.1
        if not known:
            conf *= 0.6
        return Intent(label, round(min(conf, 0.9), 3), {k: round(v, 3) for k, v in scores.items()})
