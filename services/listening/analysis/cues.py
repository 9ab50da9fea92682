# ruff: noqa: RUF001, RUF003  (Turkish, Arabic and Cyrillic letters are the point)
"""Cue rules over either tier's answer, for the messy posts both tiers misread.

A tier reads a post as a whole, so praise words win in "thanks, the staff were lovely, but it still
doesn't work", a refund demand reads neutral (or as wanting to buy), and "not bad at all" reads as a
complaint. These rules look for the few things that decide such posts and override the tier only
when they are present, in this order:

1. a fixed problem thanked for ("sorted", "riješen", "löst", "çözüldü", "انحلت", not negated and not
   "still") is positive praise;
2. a double charge is a negative complaint, never purchase intent; a refund demanded (not asked
   about) is a complaint and not positive;
3. an unresolved problem decides a mixed post: "still"/"i dalje"/"fortfarande"/"hâlâ"/"لسه" with
   something negative, or a "but" followed by something negative, is a negative complaint;
4. irony: 🙃 or 👏 around a failure (negative words, complaint cues, or a tier that reads a complaint) is
   a negative complaint;
5. negated negatives ("not bad", "can't complain", "hiç fena değil", "مش وحش") with nothing else
   negative are positive;
5b. irony without an emoji: a post a tier surely reads as a complaint (or with a complaint cue) but with
   positive sentiment (praise words wrapped around the failure it reports) is negative, unless it is a
   negated negative (rule 5) or a fixed problem (rule 1);
5c. a question about a failure with negative sentiment (a complaint cue or a clearly negative word) is
   a complaint (asked in anger);
6. a would-be customer asking what happens if they join, switch or sign up is purchase intent (also
   read from the grammar: Turkish "-rsam/-rsem", Arabic "لو/اذا" + a first-person verb);
7. company news and job adverts are `other` and neutral.
Added for the second tuning split (each can be switched off by name, see `RULES`):
- irony: a mocking emoji (😂, 🤡, 💀 ...) over a complaint or a failure word, and 🙃/🙄 over something
  that keeps happening ("again", "opet", "igen", "yine"), are negative complaints;
- irony_clause: a post that opens or closes with a short clause of nothing but praise ("Great, ...",
  "..., Imponerande.") around a complaint or a failure is a negative complaint (a clause of thanks
  does not count);
- praise_plain / liked / judged: a post of nothing but praise words that the tier read as an unsure
  complaint, as wanting to buy (no buying word, no question) or as chatter is praise;
- asked: a question the tier read as buying, with no buying word, is a question;
- a charge for something never ordered is a double charge; a negated negative stressed with "at all"
  overrules a sure tier, and a question the writer answers themselves does not stop rule 5;
- complaint_negative: a complaint with a complaint cue or a negative word is not neutral.
The cue lists are words and short phrases per language (stems end in `*`), folded like the lexicons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .fast import Evidence, FastTier
from .language import CONFIDENCE_FLOOR, LanguageGuess
from .normalise import Normalised, bare, fold, normalise
from .types import Intent, IntentLabel, Sentiment

_RAW: dict[str, dict[str, list[str]]] = {
    "en": {
        "resolved": [
            "fixed",
            "sorted",
            "solved",
            "resolved",
            "turned up",
            "sorted out",
            "swapped",
            "credited",
            "problem solved",
            "replaced",
            "replaced it",
            "working again",
            "works again",
            "all good now",
        ],
        "charge": [
            "charged twice",
            "charged me twice",
            "billed twice",
            "billed two times",
            "double charge*",
            "charged me again",
            "still took",
            "took the money",
            "duplicate payment",
            "duplicate charge",
        ],
        "unordered": [
            "never ordered",
            "never signed up",
            "didn't order",
            "didnt order",
            "did not order",
            "never asked for",
            "didn't sign up",
            "never subscribed",
        ],
        "again": ["again", "yet again", "every time", "every single time", "third time", "times this"],
        "twice": ["twice", "two times", "double"],
        "money": ["charged", "took", "paid", "billed", "payment", "charge", "money", "£", "$", "€"],
        "refund": ["refund", "refund it", "my money back", "chargeback", "reverse the"],
        "still": ["still", "yet to", "not yet"],
        "contrast": ["but", "though", "however", "unfortunately", "except"],
        "prospect": [
            "if i join",
            "if i switch",
            "if i sign up",
            "if i port",
            "if i move",
            "thinking of joining",
            "thinking of moving",
            "thinking of switching",
            "sign up now",
            "join today",
            "what happens if i",
            "what happens to my",
            "if i order",
            "if i upgrade",
        ],
        "notice": [
            "hiring",
            "we're looking for",
            "we are looking for",
            "apply via",
            "apply now",
            "careers",
            "vacanc*",
            "announces",
            "announced",
            "revenue",
            "merger",
            "job opening*",
            "creating jobs",
            "the company says",
            "the company said",
            "company said",
            "said in a statement",
            "recall",
            "recalls",
            "press release",
        ],
    },
    "hbs": {
        "resolved": [
            "riješen*",
            "rešen*",
            "riješili",
            "rešili",
            "sredili",
            "sređeno",
            "sve radi",
            "sve je ispravno",
            "sve vratio",
            "sve vratili",
            "popravili",
            "zamijenili",
            "zamenili",
            "zamijenil*",
            "zamenil*",
            "stigla zamjensk*",
            "konačno je stigl*",
        ],
        "charge": [
            "dva puta",
            "dvaput",
            "dupla naplata",
            "duplu naplatu",
            "dvostruk*",
            "opet naplati*",
            "opet ste mi naplatili",
        ],
        "unordered": [
            "nisam naručio",
            "nisam naručila",
            "nisam tražio",
            "nisam tražila",
            "koju sam otkazal*",
            "koju sam otkazao",
            "nikad nisam",
        ],
        "again": ["opet", "ponovo", "ponovno", "treći put", "svaki put", "po ko zna koji put"],
        "twice": ["dva puta", "dvaput", "dvostruko", "duplo"],
        "money": [
            "naplatili",
            "naplata",
            "naplatu",
            "skinuli",
            "skinuo",
            "platio",
            "platila",
            "uplat*",
            "novac",
            "km",
        ],
        "refund": [
            "povrat novca",
            "povrat duplog",
            "vratite",
            "vrati mi",
            "zahtijevam",
            "zahtevam",
            "hoću svoj novac",
            "novac nazad",
            "pare nazad",
            "vratite mi pare",
            "vratite novac",
        ],
        "still": ["i dalje", "još uvijek", "još uvek", "još nije", "još ništa"],
        "contrast": ["ali", "međutim", "nažalost", "a opet"],
        "prospect": [
            "ako pređem",
            "ako predjem",
            "ako uzmem",
            "ako se učlanim",
            "ako potpišem",
            "ako kupim",
            "da pređem",
            "da se prebacim",
            "razmišljam da",
            "šta se desi",
            "šta ako",
            "hoću da otvorim",
            "učlanim",
            "prebacim",
        ],
        "notice": [
            "zapošljava*",
            "konkurs",
            "oglas za posao",
            "radno mjesto",
            "radno mesto",
            "rad od kuće",
            "puno radno vrijeme",
            "prijave do",
            "prijave putem",
            "objavila",
            "objavio",
            "izvještaj",
            "izveštaj",
            "polugodišnj*",
            "kvartaln*",
        ],
    },
    "sv": {
        "resolved": [
            "löst",
            "löste",
            "löstes",
            "fixade",
            "fixat",
            "rättades",
            "rättat",
            "ordnat",
            "ordnade",
            "funkar perfekt",
            "funkar igen",
            "fungerar igen",
            "betalade tillbaka",
            "bytte ut",
            "bytt ut",
            "ersatte",
        ],
        "charge": ["två gånger", "dubbeldrag*", "dubbeldebit*", "fortsätter ta betalt", "drog pengarna"],
        "unordered": ["aldrig beställt", "aldrig beställde", "inte beställt", "aldrig bett om"],
        "again": ["igen", "återigen", "varje gång", "tredje gången", "andra gången", "ännu en gång"],
        "twice": ["två gånger", "dubbelt"],
        "money": ["drog", "dragit", "debiterade", "betalade", "betalning*", "pengar*", "kr"],
        "refund": [
            "återbetala",
            "återbetala det",
            "återbetala pengarna",
            "tillbaka mina pengar",
            "pengarna tillbaka",
            "jag kräver",
            "betala tillbaka",
            "betalar tillbaka",
        ],
        "still": ["fortfarande", "ännu inte", "än så länge inte"],
        "contrast": ["men", "tyvärr", "dock"],
        "prospect": [
            "om jag går med",
            "om jag blir medlem",
            "om jag byter",
            "om jag skaffar",
            "om jag beställer",
            "om jag tecknar",
            "funderar på att byta",
            "tänker öppna",
            "tänker byta",
            "blir medlem",
            "vad händer om jag",
            "vad händer med min",
        ],
        "notice": [
            "vi söker",
            "söker lagerarbetare",
            "ansök*",
            "lediga jobb",
            "redovisar",
            "omsättning*",
            "rekordomsättning",
            "köper upp",
            "börsnotering",
            "rekryterar",
            "kvartalsrapport",
        ],
    },
    "tr": {
        "resolved": [
            "çözüldü",
            "çözdüler",
            "çözdünüz",
            "giderdiler",
            "giderildi",
            "iade edildi",
            "bulundu",
            "değiştirdiler",
            "halloldu",
            "hallettiler",
            "düzeldi",
            "sorun tamamen",
        ],
        "charge": [
            "iki kez",
            "iki kere",
            "çift çekim",
            "cift cekim",
            "para çekiyorsunuz",
            "fazla çekilen",
            "fazla tutar*",
        ],
        "unordered": [
            "sipariş etmediğim",
            "siparis etmedigim",
            "almadığım",
            "almadigim",
            "istemediğim",
            "istemedigim",
            "iptal ettiğim halde",
            "iptal ettigim halde",
        ],
        "again": ["yine", "tekrar", "gene", "her seferinde", "üçüncü kez", "ikinci kez", "bir kez daha"],
        "twice": ["iki kez", "iki kere", "iki defa", "çift"],
        "money": ["çekti", "çekildi", "ödedim", "ödeme*", "para*", "tl", "ücret*"],
        "refund": [
            "iade edin",
            "iade istiyorum",
            "iadesini istiyorum",
            "geri istiyorum",
            "paramı geri",
            "parami geri",
            "parami iade",
            "paramı iade",
            "itiraz edeceğim",
        ],
        "still": ["hâlâ", "hala", "henüz"],
        "contrast": ["ama", "fakat", "ancak", "lakin"],
        "prospect": [
            "geçersem",
            "gecersem",
            "katılırsam",
            "katilirsam",
            "açarsam",
            "acarsam",
            "verirsem",
            "alırsam",
            "alirsam",
            "üye olmayı",
            "uye olmayi",
            "geçiş yapmak",
            "gecis yapmak",
            "geçmeyi düşünüyorum",
            "taşımayı düşünüyorum",
            "almayı düşünüyorum",
            "almayi dusunuyorum",
            "açmayı düşünüyorum",
            "acmayi dusunuyorum",
            "olmayı düşünüyorum",
        ],
        "notice": [
            "başvurular",
            "basvurular",
            "başvuru için",
            "iş ilanı",
            "açıkladı",
            "duyurdu",
            "anlaşması",
            "imzaladı",
            "gelirini",
            "çeyrekte",
            "istihdam",
            "birleşme",
            "geliştirici arıyor",
            "eleman arıyor",
            "arıyoruz",
            "başvuru linkte",
        ],
    },
    "ar": {
        "resolved": [
            "انحلت",
            "انحل",
            "حلوها",
            "حلوا",
            "تم حل",
            "اتحلت",
            "وصل البديل",
            "الطلب البديل",
            "تم التعويض",
            "على التعويض",
            "رجعولي",
            "ترجعت",
            "تصلحت",
            "اشتغل",
            "بدلوا",
            "بدلوه",
            "استبدلوا",
        ],
        "charge": ["مرتين", "خصمتوا", "تسحبون", "ما زلتم تسحبون", "سحبتوا"],
        "unordered": ["ما طلبته", "ما طلبتها", "ما اشتركت", "لم اطلب", "لم أطلب", "بدون ما اطلب"],
        "again": ["مره ثانيه", "مرة ثانية", "كل مره", "كل مرة", "من جديد", "تاني", "ثاني مره"],
        "twice": ["مرتين", "مرتان"],
        "money": ["خصم*", "سحب*", "دفعت", "المبلغ", "فلوس*", "الفاتوره", "الفاتورة", "ريال", "جنيه", "درهم"],
        "refund": [
            "استرجاع المبلغ",
            "استرداد المبلغ",
            "رجعوا فلوسي",
            "رجعولي فلوسي",
            "ابي فلوسي",
            "أبي فلوسي",
            "بدي مصرياتي",
            "اريد فلوسي",
            "أريد فلوسي",
            "اطالب باسترداد",
            "أطالب باسترداد",
            "ما رجعتوا",
        ],
        "still": [
            "لسه",
            "لحد الان",
            "لحد الآن",
            "ما زال",
            "ما زلتم",
            "لا يزال",
            "مازال",
            "للحين",
            "لسا",
            "بعده",
        ],
        "contrast": ["لكن", "بس", "ولكن", "الا ان"],
        "prospect": [
            "اذا اشتركت",
            "إذا اشتركت",
            "لو اشتركت",
            "لو انضممت",
            "اذا انضممت",
            "ناوي اشترك",
            "ناوي أشترك",
            "ناوي انتقل",
            "ناوي أنتقل",
            "افكر اطلب",
            "أفكر أطلب",
            "افكر اشترك",
            "اذا فتحت حساب",
            "إذا فتحت حساب",
            "ايش يصير اذا",
            "شو بيصير اذا",
            "افكر افتح",
            "أفكر أفتح",
            "ناوي افتح",
            "ناوي أفتح",
        ],
        "notice": [
            "وظائف",
            "وظيفه شاغره",
            "للتقديم",
            "تعلن",
            "ارباح",
            "أرباح",
            "اتفاقيه",
            "اتفاقية",
            "مؤتمر",
            "شراكه",
            "شراكة",
            "مطلوب موظفين",
            "مطلوب مندوبين",
        ],
    },
}
IRONY_EMOJI = frozenset({"🙃", "👏", "🙄"})
# Laughing or mocking emoji: ironic only next to a complaint the tier reads or a word of failure.
MOCK_EMOJI = frozenset({"😂", "🤣", "🤡", "💀", "😅"})
# "If I join / switch / buy ..." as the grammar says it: Turkish first-person conditionals ("olursam",
# "geçersem", "alırsam") and Arabic "if" before a first-person past verb ("لو نقلت", "اذا اشتركت").
_PROSPECT_GRAMMAR: dict[str, re.Pattern[str]] = {
    "tr": re.compile(r"(?<= )\w{2,}(?:ı|i|u|ü|a|e)rs(?:a|e)m(?= )"),
    "ar": re.compile(r"(?<= )(?:لو|اذا) (?:\w+[^\sا]ت)(?= )"),
}
# Clause boundaries, for the praise interjection that opens or closes an ironic post ("Great, ...",
# "..., Imponerande.").
_CLAUSES = re.compile(r"[,.!;:…\n،؛]+")
RULES = frozenset(
    {
        "resolved",
        "demand",
        "unresolved",
        "irony",
        "irony_plain",
        "irony_clause",
        "praise_plain",
        "negated_negative",
        "angry_question",
        "prospect",
        "notice",
        "asked",
        "liked",
        "judged",
        "unordered",
        "complaint_negative",
    }
)
# A complaint read this surely (or with a complaint cue) outweighs praise words around it.
SURE_COMPLAINT = 0.5
# A tier this sure that a post is negative is not overruled by a negated negative.
SURE = 0.6
_THANKS_EMOJI = frozenset({"🙏", "👍", "❤", "❤️", "🙌", "💯"})


@dataclass(frozen=True)
class _Matcher:
    """Every cue of one kind as one regular expression over the space-joined tokens."""

    pattern: re.Pattern[str] | None

    def find(self, padded: str) -> list[int]:
        """Token positions where a cue starts (phrases: the position of their first word)."""
        if self.pattern is None:
            return []
        return [padded.count(" ", 0, m.start()) - 1 for m in self.pattern.finditer(padded)]


def _matcher(words: list[str], lang: str) -> _Matcher:
    alternatives: set[str] = set()
    for w in words:
        f = fold(w, lang)
        alternatives.add(re.escape(f[:-1]) + r"\S*" if f.endswith("*") else re.escape(f))
    if not alternatives:
        return _Matcher(None)
    # Longest first, so that a phrase wins over the word it starts with.
    body = "|".join(sorted(alternatives, key=len, reverse=True))
    return _Matcher(re.compile(f"(?<= )(?:{body})(?= )"))


_KINDS = (
    "resolved",
    "charge",
    "unordered",
    "twice",
    "money",
    "refund",
    "still",
    "contrast",
    "prospect",
    "notice",
    "again",
)


def _with_bare(words: list[str], lang: str) -> list[str]:
    """The cues, plus each one without its language's diacritics ("i dalje", "jos uvijek", "cozuldu")."""
    return words + [b for w in words if (b := bare(fold(w, lang), lang)) != fold(w, lang)]


_TABLES: dict[str, dict[str, _Matcher]] = {
    lang: {k: _matcher(_with_bare(words[k], lang), lang) for k in _KINDS} for lang, words in _RAW.items()
}
_MERGED: dict[str, _Matcher] = {
    k: _matcher([w for lang, words in _RAW.items() for w in _with_bare(words[k], lang)], "") for k in _KINDS
}


def _table(lang: LanguageGuess) -> dict[str, _Matcher]:
    if lang.confidence >= CONFIDENCE_FLOOR and lang.language in _TABLES:
        return _TABLES[lang.language]
    return _MERGED


def _negative(ev: Evidence) -> bool:
    return ev.negative < 0 or ev.complaint > 0


class CueRules:
    """Applies the rules above to one tier's sentiment and intent."""

    def __init__(self, fast: FastTier, rules: frozenset[str] = RULES) -> None:
        self.fast = fast
        self.rules = rules

    def _denied(self, tokens: list[str], lang: LanguageGuess, start: int) -> bool:
        """A negator from `start` on ("still can't", "i dalje ne radi") that is not a negated negative."""
        tail = tokens[start:]
        if not any(t in self.fast.negators(lang) for t in tail):
            return False
        return not self.fast.evidence(normalise(" ".join(tail), lang.language), lang).negated_negative

    def _praise_clause(self, norm: Normalised, lang: LanguageGuess) -> bool:
        """The post opens or closes with a short clause of nothing but praise ("Great, ...", "Bravo X,
        ...", "... Imponerande.") and says something else besides: the shape of an ironic post. A
        clause of thanks ("Thanks ShopNest, ...") opens sincere posts as often and does not count."""
        clauses = [c for c in _CLAUSES.split(norm.text) if c.strip()]
        if len(clauses) < 2:
            return False
        for clause in (clauses[0], clauses[-1]):
            part = normalise(clause, lang.language)
            if not part.tokens or len(part.tokens) > 3:
                continue
            ev = self.fast.evidence(part, lang)
            if ev.positive > 0 and ev.negative == 0 and not ev.complaint and not ev.praise:
                return True
        return False

    def revise(
        self, norm: Normalised, lang: LanguageGuess, sentiment: Sentiment, intent: Intent
    ) -> tuple[Sentiment, Intent]:
        """The tier's answer, or the rule's when one of the cues above decides the post."""
        ev = self.fast.evidence(norm, lang)  # read once: the rules below and the check after them
        s, i = self._revise(norm, lang, sentiment, intent, ev)
        if "complaint_negative" in self.rules and i.label == "complaint" and s.label == "neutral":
            # A complaint reports dissatisfaction: it is not neutral when the words say so too.
            if ev.complaint > 0 or ev.negative < 0:
                s = _negative_sentiment(s)
        return s, i

    def _revise(
        self, norm: Normalised, lang: LanguageGuess, sentiment: Sentiment, intent: Intent, ev: Evidence
    ) -> tuple[Sentiment, Intent]:
        table = _table(lang)
        tokens = norm.tokens
        if not tokens:
            return sentiment, intent
        padded = " " + " ".join(tokens) + " "
        found = {k: table[k].find(padded) for k in _KINDS}
        negators = self.fast.negators(lang)

        def negated(i: int) -> bool:
            return any(t in negators for t in tokens[max(0, i - 2) : i])

        resolved = [i for i in found["resolved"] if not negated(i)]
        thanked = ev.praise > 0 or ev.positive > 0 or any(e in _THANKS_EMOJI for e in norm.emojis)
        on = self.rules
        if "resolved" in on and resolved and thanked and not found["still"]:
            return _positive(sentiment), _as(intent, "praise")
        question = "?" in norm.text or "؟" in norm.text
        unordered = "unordered" in on and found["unordered"]
        charged = found["charge"] or ((found["twice"] or unordered) and found["money"])
        if "demand" in on and charged:
            return _negative_sentiment(sentiment), _as(intent, "complaint")
        if "demand" in on and found["refund"] and not question:
            return _not_positive(sentiment), _as(intent, "complaint")
        still = found["still"]
        if "unresolved" in on and still and (_negative(ev) or self._denied(tokens, lang, still[0])):
            return _negative_sentiment(sentiment), _as(intent, "complaint")
        if "unresolved" in on and found["contrast"]:
            cut = found["contrast"][-1] + 1
            tail = normalise(" ".join(tokens[cut:]), lang.language)
            if tail.tokens and (_negative(self.fast.evidence(tail, lang)) or self._denied(tokens, lang, cut)):
                return _negative_sentiment(sentiment), _as(intent, "complaint")
        complained = intent.label == "complaint"
        # An upside-down face or an eye-roll over something that keeps happening is never sincere.
        rolled = found["again"] and any(e in ("🙃", "🙄") for e in norm.emojis)
        if (
            "irony" in on
            and any(e in IRONY_EMOJI for e in norm.emojis)
            and (_negative(ev) or complained or rolled)
        ):
            return _negative_sentiment(sentiment), _as(intent, "complaint")
        if "irony" in on and any(e in MOCK_EMOJI for e in norm.emojis) and (complained or ev.negative <= -2):
            # Laughing at a failure the post reports ("nobody has answered in 6 days 😂").
            return _negative_sentiment(sentiment), _as(intent, "complaint")
        ironic_shape = "irony_clause" in on and not ev.negated_negative and self._praise_clause(norm, lang)
        if ironic_shape and (_negative(ev) or complained):
            # "Great, the router rebooted four times during my call": the praise is the sarcasm.
            return _negative_sentiment(sentiment), _as(intent, "complaint")
        # A denied complaining verb ("can't complain") or a denial stressed with "at all" ("not bad at
        # all") is an idiom of praise, however sure the tier is.
        sure_negative = (
            sentiment.label == "negative"
            and sentiment.confidence >= SURE
            and not ev.negated_complaint
            and not ev.emphatic
        )
        if (
            "negated_negative" in on
            and ev.negated_negative
            and not (_negative(ev) or _ends_asking(norm.text) or sure_negative)
        ):
            # A complaint is the misreading, and "other" misses that the post judges; other intents stand.
            label = "praise" if intent.label in ("complaint", "other") else intent.label
            return _positive(sentiment), _as(intent, label)
        plain_irony = complained and (intent.confidence >= SURE_COMPLAINT or ev.complaint > 0)
        if "irony_plain" in on and plain_irony and sentiment.label == "positive" and not resolved:
            # Praise words around what the post itself complains about: the complaint decides.
            return _negative_sentiment(sentiment), intent
        if (
            "praise_plain" in on
            and complained
            and sentiment.label == "positive"
            and not (_negative(ev) or ev.complaint or found["again"] or question)
            and (ev.positive >= 2 or ev.praise)
            and not any(e in IRONY_EMOJI or e in MOCK_EMOJI for e in norm.emojis)
        ):
            # A tier unsure of a complaint in a post of nothing but praise words ("goated app"): praise.
            return sentiment, _as(intent, "praise")
        if (
            "angry_question" in on
            and intent.label == "question"
            and sentiment.label == "negative"
            and (ev.complaint > 0 or ev.negative <= -2)
        ):
            # A question asked about a failure, in anger: a complaint.
            return sentiment, _as(intent, "complaint")
        grammar = _PROSPECT_GRAMMAR.get(lang.language)
        prospect = found["prospect"] or (grammar is not None and grammar.search(padded) is not None)
        # A would-be customer's question may name what they fear ("can I cancel before the contract
        # ends?") without reporting a problem.
        if "prospect" in on and prospect and not (ev.complaint or (ev.negative < 0 and not question)):
            return _neutral_if_negative(sentiment), _as(intent, "purchase_intent")
        if (
            "notice" in on
            and found["notice"]
            and not _negative(ev)
            and not question
            and intent.label != "other"
        ):
            return Sentiment("neutral", 0.0, 0.6), _as(intent, "other")
        if "asked" in on and question and intent.label == "purchase_intent" and not ev.purchase:
            # A plain question the tier read as buying, with no buying word: a question.
            if sentiment.label == "neutral" and not _negative(ev):
                if self.fast.intent(norm, lang, sentiment).label == "question":
                    return sentiment, _as(intent, "question")
        if (
            "liked" in on
            and not question
            and intent.label == "purchase_intent"
            and not ev.purchase
            and sentiment.label == "positive"
            and ev.positive > 0
            and not _negative(ev)
        ):
            # Praise the tier read as wanting to buy, with no buying word and no question: praise.
            return sentiment, _as(intent, "praise")
        if (
            "judged" in on
            and intent.label == "other"
            and sentiment.label == "positive"
            and (ev.positive >= 2 or ev.praise)
            and not (question or found["notice"] or _negative(ev))
        ):
            # A post that judges the brand well is praise, not chatter ("the internet flies, worth it").
            return sentiment, _as(intent, "praise")
        return sentiment, intent


_ASKED_AT = re.compile(r"[?؟]")
_WORDS_AFTER = re.compile(r"[^\W_]")


def _ends_asking(text: str) -> bool:
    """The post ends with its question ("... does it come in blue?"); a question the writer answers
    themselves ("honestly? not bad at all") is rhetorical."""
    asked = [m.end() for m in _ASKED_AT.finditer(text)]
    return bool(asked) and not _WORDS_AFTER.search(text, asked[-1])


def _positive(s: Sentiment) -> Sentiment:
    return s if s.label == "positive" else Sentiment("positive", max(0.3, -s.score), 0.6)


def _negative_sentiment(s: Sentiment) -> Sentiment:
    return s if s.label == "negative" else Sentiment("negative", min(-0.3, -abs(s.score)), 0.6)


def _not_positive(s: Sentiment) -> Sentiment:
    return Sentiment("neutral", 0.0, 0.55) if s.label == "positive" else s


def _neutral_if_negative(s: Sentiment) -> Sentiment:
    return Sentiment("neutral", 0.0, 0.55) if s.label == "negative" else s


def _as(intent: Intent, label: IntentLabel) -> Intent:
    if intent.label == label:
        return intent
    return replace(intent, label=label, confidence=max(0.6, intent.scores.get(label, 0.0)))
