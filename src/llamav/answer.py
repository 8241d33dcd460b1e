"""Reading a final answer: the answer a response commits to, and its parts (option letters and
texts, numbers, quantities, short texts).

One module for the whole system. Scoring reads the answer from a prediction's raw turns with
`read_response` (at scoring time, so that a better reader reaches every stored run; this file is in
the scoring hash), and the `answer` metric compares what it read with the reference
(`metrics/_answer.py`); the reasoner stores the same reading for display (`reasoning/parse.py`).

Maintained libraries do the arithmetic: `math-verify` (Hugging Face's answer verifier for math
benchmarks) decides numeric and symbolic equality (fractions, LaTeX, scientific notation, sets,
intervals); `pint` decides quantities with units (equal after conversion; different dimensions
never equal). The rules here only cut an answer into those pieces. Wherever a reading could be
wrong, a reader returns None and the caller declines: a guess that turns a wrong answer right is
the one error a benchmark cannot afford.
"""

from __future__ import annotations

import logging
import math
import re
import string
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

LETTERS = string.ascii_uppercase

# -- text ----------------------------------------------------------------------------------------

# "The answer is", "Final answer:", "So, the correct answer is:", "**Answer:**" at the start of the
# text. "answer" must be a whole word followed by "is" or ":", so "Answered" is not a prefix.
_ANSWER_PREFIX = re.compile(
    r"^\s*(?:\*\*)?\s*(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?answer\b"
    r"\s*(?:\*\*)?\s*(?:is\b\s*:?|:)\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
_LEADING_ARTICLE = re.compile(r"^(?:a|an|the)\s+(?=\S)")
# A minus sign: a hyphen-minus or U+2212 opening a number or a lone variable ("-3", "(−0.5)", "-x"),
# not one joining words or numbers ("x-ray", "3-4").
_MINUS = re.compile(r"(?<![\w.])[-\u2212](?:(\.?)(?=\d)|(?=[^\W\d_](?!\w)))")
# Words that make a number a bound or an estimate: "more than 12" does not state 12.
_QUALIFIER = re.compile(
    r"\b(?:more|less|fewer|greater|smaller|than|over|under|above|below|least|most|about|around|approximately"
    r"|roughly|nearly|almost|up to|between|or|to|per)\b|[~≈<>≤≥]"
)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot)\b|n't\b|\bn t\b")
_REFUSAL = re.compile(
    r"\b(?:i\s+(?:do\s+not|don t|dont)\s+know|not\s+sure|(?:cannot|can t|unable\s+to)\s+(?:be\s+)?(?:determine|tell|answer|say)"
    r"|(?:cannot|can t)\s+be\s+determined|no\s+answer|unknown|unanswerable|insufficient\s+information)\b"
)


def strip_answer_prefix(text: str) -> str:
    """"The answer is 12 cm." -> "12 cm."; "Final answer: B" -> "B"; "Answered" stays."""
    return _ANSWER_PREFIX.sub("", text.strip(), count=1).strip()


def clean(text: str) -> str:
    """An answer's body: prefix, markdown emphasis, quotes, $...$ and the final full stop removed."""
    body = strip_answer_prefix(unicodedata.normalize("NFKC", text))
    body = body.replace("\u2212", "-").strip().strip("*").strip().strip("\"'`").strip()
    if body.endswith("$.") or body.endswith("$ ."):
        body = body[:-1].rstrip()  # "$\frac{1}{2}$.": the full stop outside the maths
    if len(body) > 2 and body.startswith("$") and body.endswith("$") and body.count("$") == 2:
        body = body[1:-1].strip()
    return body[:-1].rstrip() if body.endswith(".") else body


def normalize_text(text: str) -> str:
    """Lower case, punctuation as spaces, a leading article dropped, single spaces:
    "The Eiffel Tower." -> "eiffel tower". Only a leading article goes: "Vitamin A" keeps its A.
    A minus sign is no punctuation: "-3" and "−3" are both "−3", never "3"; "-x" is "−x"."""
    text = unicodedata.normalize("NFKC", text).lower().strip()
    text = _LEADING_ARTICLE.sub("", text)
    # U+2212 is a maths symbol, kept below ("-.5" as "−0.5"); "3-4" and "COVID-19" keep their hyphen's space.
    text = _MINUS.sub(lambda m: "\u2212" + ("0." if m.group(1) else ""), text)
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())


def is_refusal(text: str) -> bool:
    """"I don't know.", "It cannot be determined": an answer that gives none."""
    return bool(_REFUSAL.search(normalize_text(text)))


# -- option letters ------------------------------------------------------------------------------

# A whole answer that is one letter may be lower case ("b"); inside a text only capitals are letters.
_BARE_LETTER = re.compile(r"^(?i:option\s+|choice\s+)?\(?\s*([A-Za-z])\s*\)?\s*[.:)]?$")
_LEADING_LABEL = re.compile(r"^(?i:option\s+|choice\s+)?(?:\(([A-Z])\)|([A-Z])[.:)])(?:\s+(.*))?$", re.DOTALL)
# "answer is B." / "answer: (B) the cat" / "option C": a bare letter must end the clause, so the
# article in "the answer is a cat" is not read as option A.
_STATED_LETTER = re.compile(
    r"\b(?i:answer|option|choice)\s*(?:\*\*)?\s*(?i:is\s*:?|:)?\s*(?:\*\*)?\s*(?i:option\s+)?"
    r"(?:\(([A-Z])\)|([A-Z])(?=\s*[.,;:!)*]|\s*$))"
    # "(C) is right", "C is the correct answer"
    r"|(?:\(([A-Z])\)|\b([A-Z]))\s+is\s+(?i:the\s+)?(?i:right|correct|the\s+answer)\b"
)


def stated_letter(text: str) -> str | None:
    """The option letter a text states, whatever the number of options: the whole text ("B",
    "(b)", "Option B", "B. 42"), else every "answer is B" / "option (B)" in it naming one letter.
    A letter merely mentioned ("compare (A) with the rest") is not an answer."""
    body = clean(text)
    match = _BARE_LETTER.match(body)
    if match:
        return match.group(1).upper()
    match = _LEADING_LABEL.match(body)
    if match:
        return match.group(1) or match.group(2)
    letters = {g for m in _STATED_LETTER.finditer(text) for g in m.groups() if g}
    return letters.pop() if len(letters) == 1 else None  # several letters: not ours to pick


def _option_spans(norm: str, option: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<!\S){re.escape(option)}(?!\S)", norm)]


def quoted_option(text: str, options: list[str]) -> int | None:
    """The one option whose whole text a response quotes (as whole words, never a substring:
    "100" does not quote "10"). A quote inside a longer quoted option does not count ("dark red"
    does not also name "red"); a response that negates anything is not read ("not red, blue")."""
    norm = normalize_text(clean(text))
    opts = [normalize_text(o) for o in options]
    spans = {i: _option_spans(norm, o) for i, o in enumerate(opts) if o}
    named = []
    for i, own in spans.items():
        longer = [s for j, other in spans.items() if j != i and len(opts[j]) > len(opts[i]) for s in other]
        if any(not any(a <= b0 and b1 <= b for a, b in longer) for b0, b1 in own):
            named.append(i)
    if len(named) != 1:
        return None
    rest = norm
    for a, b in sorted(spans[named[0]], reverse=True):
        rest = rest[:a] + " " + rest[b:]
    return None if _NEGATION.search(rest) else named[0]


def read_option(text: str, options: list[str]) -> int | None:
    """Which option a response (or a reference) names, when the rules can tell: by its letter
    ("B", "(B)", "The answer is B."), by its whole text, or by quoting exactly one option's text.
    A letter and an option text that disagree ("B. 42" when 42 is option C) name nothing."""
    letter = stated_letter(text)
    by_letter = LETTERS.index(letter) if letter and letter in LETTERS[: len(options)] else None
    if letter is not None and by_letter is None:
        return None  # a letter beyond the options: it names none of them
    body = clean(text)
    label = _LEADING_LABEL.match(body)
    after = label.group(3) if label and label.group(3) else ""
    norm = normalize_text(body)
    exact = [i for i, opt in enumerate(options) if normalize_text(opt) and normalize_text(opt) == norm]
    quotable = (after or by_letter is None) and _quotable(options)
    by_text = exact[0] if len(exact) == 1 else quoted_option(after or text, options) if quotable else None
    if by_letter is not None and by_text is not None and by_letter != by_text:
        return None
    return by_letter if by_letter is not None else by_text


# -- options in a question -----------------------------------------------------------------------

_CHOICES_HEADER = re.compile(r"\b(?:choices|options)\s*:?", re.IGNORECASE)
# An option label: "(A)", "A.", "A)", "A:" at the start of a line or after whitespace.
_OPTION_LABEL = re.compile(r"(?:^|(?<=\s))\(?([A-J])[\).:]\s*", re.MULTILINE)


def parse_choices(question: str) -> list[str] | None:
    """Option texts, in order, when the question carries lettered choices; None otherwise.

    VRC-Bench keeps the options inside the question text after the word "Choices". Options are
    accepted only when their labels run A, B, C, ... without a gap, so a stray "I." in a sentence
    is not taken for an option.
    """
    header = _CHOICES_HEADER.search(question)
    if header is None:
        return None
    tail = question[header.end():]
    labels = list(_OPTION_LABEL.finditer(tail))
    options: list[str] = []
    for i, match in enumerate(labels):
        if match.group(1) != chr(ord("A") + len(options)):
            break
        end = labels[i + 1].start() if i + 1 < len(labels) else len(tail)
        text = tail[match.end():end].strip().rstrip(",;").strip()
        if not text:
            break
        options.append(text)
    return options if len(options) >= 2 else None


# -- numbers -------------------------------------------------------------------------------------

# A number as written in prose: "1,234.5", "-3", ".5", "3.5e3". A comma must group thousands;
# "1,2,3" is a list, not a number.
NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_CURRENCY = "$€£¥₹"
_QUANTITY = re.compile(
    rf"^(?P<cur>[{_CURRENCY}])?\s*(?P<num>{NUMBER})(?:\s*/\s*(?P<den>\d+))?\s*(?P<pct>%|percent\b|per\s+cent\b)?"
    rf"\s*(?P<label>[^\d\s,;{_CURRENCY}][^\d,;={_CURRENCY}]{{0,30}}?)?\s*(?P<cur2>[{_CURRENCY}])?$",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
# Words after a number that change its size, or could: "3 million" is not 3; "12k", "$5M" and
# "$3m" (million, molar, metre?) are not read as units. Lower-case "m" alone stays the metre.
SCALE_WORDS = {"hundred", "thousand", "million", "billion", "trillion", "mn", "bn", "dozen", "lakh", "crore"}
_SCALE_SYMBOLS = {"k", "K", "M", "B", "bn", "mn"}


def is_qualified(label: str) -> bool:
    """Whether the words after a number bound or negate it ("12 or more", "12 at most", "12, not 13")."""
    words = normalize_text(label)
    return bool(_QUALIFIER.search(words) or _NEGATION.search(words))


def is_scale_word(label: str, currency: str = "") -> bool:
    first = (label.split() or [""])[0]
    return (
        normalize_text(first) in SCALE_WORDS or first in _SCALE_SYMBOLS or bool(currency and first.lower() in {"m", "b", "k"})
    )


# A text made only of maths: digits, operators, brackets, LaTeX commands and one-letter variables.
_MATH_LIKE = re.compile(r"^(?:\\[A-Za-z]+|[0-9.+\-*/^_=(){}\[\]|!<>, π√]|(?<![A-Za-z])[A-Za-z](?![A-Za-z])|\\[{}%,;! ])+$")


@dataclass(frozen=True)
class Quantity:
    """A number as an answer states it: "45%", "$3.50", "12 cm", "3/4", "seven"."""

    value: Fraction
    percent: bool = False
    currency: str = ""
    label: str = ""  # what follows the number: a unit ("cm"), a noun ("apples"), or nothing

    @property
    def text(self) -> str:
        return f"{float(self.value):g}"


def to_fraction(token: str) -> Fraction:
    return Fraction(token.replace(",", ""))


def read_quantity(text: str) -> Quantity | None:
    """The number a whole answer states, with its percent sign, currency and unit or noun; None
    when the answer is anything more than that ("1,2,3", "3 or 4", a sentence)."""
    body = clean(text)
    words = normalize_text(body)
    if words in _NUMBER_WORDS:
        return Quantity(Fraction(_NUMBER_WORDS[words]))
    match = _QUANTITY.match(body)
    if match is None:
        return None
    if re.match(r"[-+]?0\d", match["num"]):
        return None  # "007", "01234": an id or a code, not a quantity
    try:
        value = to_fraction(match["num"])
    except (ValueError, ZeroDivisionError):
        return None
    if match["den"]:
        if int(match["den"]) == 0:
            return None
        value /= int(match["den"])
    label = " ".join((match["label"] or "").split()).rstrip(".")
    glued = match["label"] is not None and match.start("label") > 0 and body[match.start("label") - 1].isdigit()
    if re.match(r"[\\π√^_*/(]", label) or (glued and re.fullmatch(r"[A-Za-z]", label)):
        return None  # "14π", "6\\pi", "2\\sqrt{3}", "2x": maths, not a number with a unit
    return Quantity(value, bool(match["pct"]), match["cur"] or match["cur2"] or "", label)


def number_tokens(text: str) -> list[str]:
    """The numbers a text mentions, in order, as written. A comma list ("1,2,3") is not a number
    and is left out, as are numbers inside words ("A1", "x2")."""
    return [t.lstrip("+") for t in (m.group(0).rstrip(",") for m in _NUMBER_TOKEN.finditer(text.replace("\u2212", "-")))
            if re.fullmatch(NUMBER, t)]


# Operators, LaTeX and variables around a number: the number is a term of an expression.
_MATHS_AROUND_A_NUMBER = re.compile(
    r"[\\^=:/*√π_{}]|\d\s*[-+x×]\s*\d|(?<![A-Za-z])[A-Za-z]\s*[-+*/]\s*\d|\d\s*[-+*/]\s*[A-Za-z](?![A-Za-z])|\d[A-Za-z](?![A-Za-z])"
)


def sentence_number(text: str) -> Quantity | None:
    """The number a short free-form answer gives when it mentions exactly one ("There are 12
    apples."). Two different numbers, or a negation ("not 12"), and the rules do not pick."""
    words = normalize_text(text)
    if _NEGATION.search(words) or _QUALIFIER.search(words) or re.search(r"[~≈<>≤≥]", text):
        return None
    if _MATHS_AROUND_A_NUMBER.search(text):
        return None  # "\\sqrt{3}", "1:1", "y = -2x + 5": a number inside maths is a part of it
    tokens = number_tokens(clean(text))
    values = {to_fraction(t) for t in tokens}
    if len(values) != 1:
        return None
    token = tokens[0]
    percent = bool(re.search(rf"{re.escape(token)}\s*(?:%|percent\b)", text, re.IGNORECASE))
    return Quantity(values.pop(), percent=percent)


# -- equality: math-verify and pint --------------------------------------------------------------


@lru_cache(maxsize=1)
def units():
    """pint's unit registry, built once (it takes about a second)."""
    import pint  # a second to load, and only a quantity with a unit needs it

    return pint.UnitRegistry()


def pint_unit(label: str, currency: str = ""):
    """The pint unit a label names ("cm", "hours", "km/h", "°C"), or None (a noun, or nothing)."""
    if not label or is_scale_word(label, currency):
        return None
    try:
        unit = units().parse_units(label.replace("²", "^2").replace("³", "^3"))
    except Exception:  # pint's parser raises whatever its tokenizer does on odd labels ("(since")
        return None
    return None if unit.dimensionless and label.strip() not in {"°", "deg", "degree", "degrees", "rad", "radian", "radians"} else unit


def _latex(text: str) -> str:
    """An answer body as LaTeX for math-verify: thousands commas out, 3.5e3 as 3.5\\times10^{3}."""
    text = re.sub(r"(?<!\d)(\d{1,3}(?:,\d{3})+)(?![\d,])", lambda m: m.group(1).replace(",", ""), text)
    # Unicode maths as LaTeX: "14π" is 14\pi, "2√3" is 2\sqrt{3}.
    text = re.sub(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\{[^{}]*\}|\([^()]*\))", lambda m: "\\sqrt{" + m.group(1).strip("{}()") + "}", text)
    text = text.replace("π", "\\pi ")
    return re.sub(r"(\d)[eE]([-+]?\d+)", r"\1\\times10^{\2}", text)


# math-verify's own timeouts use SIGALRM, which only works in the main thread, and scoring may run
# in a worker thread; so its timeouts are off and answers longer than this are not given to it.
MAX_MATH_CHARS = 120


class _QuietTimeoutNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_QuietTimeoutNotice())


@lru_cache(maxsize=4096)
def math_parse(text: str):
    """math-verify's reading of an answer body as one LaTeX expression; None when it reads nothing."""
    if len(text) > MAX_MATH_CHARS:
        return None
    from math_verify import LatexExtractionConfig, parse  # heavy (sympy, antlr); most answers never reach it

    parsed = parse(f"${_latex(text)}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    return parsed[0] if parsed else None


def math_equal(gold, target, rel_tol: float = 0.0) -> bool:
    from math_verify import verify  # heavy (sympy); most answers never reach it

    if rel_tol > 0 and getattr(gold, "is_number", False) and getattr(target, "is_number", False):
        try:
            return math.isclose(float(gold), float(target), rel_tol=rel_tol)
        except (TypeError, ValueError):
            pass
    return bool(verify(gold, target, timeout_seconds=None))


def is_list(text: str) -> bool:
    """Whether an answer is a bare list ("1, 2, 3", "red, blue"): a comma outside any bracket that
    does not group thousands. Sets and intervals ("\\{1, 2\\}", "[1, 2)") are not bare lists."""
    body = re.sub(r"(?<!\d)\d{1,3}(?:,\d{3})+(?![\d,])", "0", clean(text))
    depth = 0
    for char in body:
        depth += char in "([{" 
        depth -= char in ")]}"
        if char == "," and depth <= 0:
            return True
    return False


def list_items(text: str) -> list[str]:
    return [item.strip() for item in re.split(r",|\band\b", clean(text)) if item.strip()]


# Digits that are not arithmetic, however they look: "12/03/1974" (a date, not 12 / 3 / 1974),
# "555-1234" and "2005-2006" (a phone number, a range), "014 766 2660" (digit groups), "007" (an id).
_NOT_ARITHMETIC = re.compile(r"\d+/\d+/\d+|\d-\d|\d\s+\d|(?<![\d.])0\d")


def is_math_like(text: str) -> bool:
    """Whether an answer is maths alone, for math-verify: digits, operators, LaTeX, one-letter
    variables; never dates, phone numbers, ranges or ids written with digits."""
    body = clean(text)
    return (
        bool(body) and bool(re.search(r"\d|\\", body)) and bool(_MATH_LIKE.match(body))
        and not _NOT_ARITHMETIC.search(body)
    )


def percent_candidates(value, percent: bool, other_percent: bool) -> list:
    """A percentage is scaled one way only: "45%" equals 45 or 0.45, never 4500; a plain number
    written against a percentage reference is compared as written."""
    return [value, value / 100] if percent and not other_percent else [value]


# -- reading a whole response --------------------------------------------------------------------
#
# A model rarely answers with the answer alone: it reasons, states an answer (often more than
# once, sometimes correcting itself), and may go on to invent a new question and answer that too.
# `read_response` finds the answer the response commits to, in this order:
#   1. cut the text at an invented follow-up ("Question:", "Q:", "Human:", a new "Choices:" block);
#   2. an explicit statement: "the answer is", "Answer:", "final answer", \boxed{}, "答案是",
#      "选项为", "故选"; the last one that gives a readable answer to this question wins (models
#      correct themselves, and restate their answer at the end);
#   3. with none: the whole response when it is short, a bold answer, a leading option label, or
#      the concluding sentence, read strictly (no option letter out of a word or a sentence, no
#      number echoed from the question, fractions, ratios and scaled numbers whole);
#   4. several different candidates: it declines, and the judge decides (or it counts as undecided).

# Only the end of a long response is read: the committed answer closes it, and the time to read
# a response is then bounded whatever its length.
READ_TAIL_CHARS = 20_000

_STAGE_TAG = re.compile(r"</?(?:SUMMARY|CAPTION|REASONING|CONCLUSION)>|<\|?(?:im_end|eot_id|endoftext|eoa|eoe)\|?>", re.IGNORECASE)
# A line that starts a new exchange: the model went on to invent a question (or a turn) of its own.
_FOLLOW_UP = re.compile(
    r"^[ \t>#*]*(?:question|q|human|user|instruction|problem|new question|next question|问题)[ \t]*\d*[ \t]*\**[ \t]*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_NEW_CHOICES = re.compile(r"^[ \t>#*]*(?:choices|options)[ \t]*\**[ \t]*[:：]", re.IGNORECASE | re.MULTILINE)
# The explicit statements of an answer, English and Chinese. What follows one is its value.
_STATEMENT = re.compile(
    r"(?:(?<![\w])(?:(?:the|my|our)\s+)?(?:final\s+|correct\s+|right\s+|best\s+)?(?:answer|option|choice)\b"
    r"(?:\s+(?:to\s+(?:the|this)\s+question|choice|option))?"
    r"\s*(?:\*\*)?\s*(?:is|would\s+be|should\s+be|will\s+be|must\s+be|=|:)(?![\w])\s*:?"
    r"|【答案】|(?:最终|正确)?答案\s*(?:应该?是|应为|是|为|:)"
    r"|(?:故|所以|因此|则|应|只能|答案|我)\s*(?:应|只能)?选(?:择)?\s*(?:为|是|:)?(?=\s*[(\[]?[A-H](?![A-Za-z]))"
    r"|(?:正确)?选项\s*(?:应该?是|应为|为|是|:)(?=\s*[(\[]?[A-H](?![A-Za-z]))"
    r"|(?<![\w])(?:I\s+(?:would\s+)?(?:choose|select|pick))\b)",
    re.IGNORECASE,
)
_NOT_A_STATEMENT = re.compile(
    r"\b(?:to|find|get|determine|reach|choose|select|identify|verify|check|know|need)\s+(?:the\s+|an?\s+|our\s+)?$", re.IGNORECASE
)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOLD = re.compile(r"\*\*([^*\n]{1,80})\*\*")
# An option named on its own terms: "(C)", "C.", "C)", "C:", "option C", "**C**", "[C]".
_LABEL_AT_START = re.compile(
    r"^\s*(?:\*\*)?\s*(?:(?i:option|choice)\s*)?(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z])(?![\w'’])|([a-z])(?=\s*[.):]|\s*$))(?:\*\*)?"
)
_LETTER_IN_SENTENCE = re.compile(
    r"(?i:option|choice)\s*\(?([A-Z])\b\)?|\(([A-Z])\)|(?<![\w'’])([A-Z])\s+is\s+(?i:the\s+)?(?i:right|correct|true)\b"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
# In Chinese a letter stands apart from the words around it ("度数是C"); one after "∠" or "△" names
# a point of a figure, not an option.
_LETTER_IN_CJK = re.compile(r"(?:是|为|选|选择)\s*[(（]?([A-H])(?![A-Za-z0-9'’])")
_CONCLUSION_CUE = re.compile(
    r"\b(?:so|thus|therefore|hence|in total|altogether|in conclusion|overall)\b|所以|因此|故|综上", re.IGNORECASE
)
_TOTAL_CUE = re.compile(r"\b(?:total(?:ly)?|sum|altogether|in all)\b(?:\s+(?:is|of|=|are|comes\s+to))?\s*[:=]?\s*", re.IGNORECASE)
_PARENTHETICAL = re.compile(r"(?<![\w^_])\([^()]{0,200}\)|（[^（）]{0,200}）")
# A number as an answer states it, read whole: "$1,200", "-3.5", "1/2", "3:1", "3 x 10^5",
# "2.5e-3", "45%", "1.2 million", and the number words up to twenty.
_AMOUNT = re.compile(
    rf"(?<![A-Za-z0-9_.^/:\\{{√])(?<![A-Za-z]-)(?P<cur>[{_CURRENCY}])?\s?"
    r"(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)"
    r"(?P<den>\s*[/:]\s*\d+(?:\.\d+)?)?"
    r"(?P<exp>\s*(?:x|×|\*|\\times|\\cdot)\s*10\s*\^\s*\{?\s*[-+]?\d+\s*\}?|[eE][-+]?\d+)?"
    r"(?P<pct>\s*(?:\\?%|percent\b))?"
    r"(?P<scale>\s+(?:hundred|thousand|million|billion|trillion)\b)?"
    r"(?![A-Za-z0-9_/√π\\^])"
    r"|(?<![\w-])(?P<word>zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)(?![\w-])",
    re.IGNORECASE,
)
_BOUND_BEFORE = re.compile(
    r"(?:more|less|fewer|greater|smaller|larger|higher|lower|bigger|than|over|under|above|below|least|most|about|around"
    r"|approximately|roughly|nearly|almost|up\s+to|between|except|not|exceeds?|[~≈<>≤≥])\s*$",
    re.IGNORECASE,
)
_REFUSAL_EXTRA = re.compile(
    r"(?:not\s+enough\s+information|insufficient\s+(?:information|data)|(?:cannot|can't|can\s+not|unable\s+to)\s+"
    r"(?:be\s+)?(?:determined?|answer|tell|see|view|interpret|provide|solve|identify|access)|impossible\s+to\s+(?:determine|tell|say)"
    r"|not\s+possible\s+to\s+(?:solve|determine|answer|tell|say)|(?:please|can\s+you|could\s+you)\s+(?:provide|give|share|upload)"
    r"|(?:didn't|did\s+not|don't|do\s+not)\s+(?:provide|see|have)\s+(?:any|the|an?)\s+(?:image|picture|diagram|figure|information)"
    r"|(?:doesn't|does\s+not)\s+seem\s+to\s+be\s+(?:a|an|any)\s+(?:image|picture|diagram|figure)"
    r"|无法(?:直接)?(?:确定|判断|回答|得出|看到|给出|求解|计算)|不能确定|信息不足|无解|有误|出错|都不对|均不(?:正确|对)|无正确答案|没有正确(?:答案|选项)|没有给出)",
    re.IGNORECASE,
)


# An answer that names nothing: "无" ("none"), "None of the above".
_NO_OPTION = re.compile(r"无|没有|都不是|none(?:\s+of\s+(?:the\s+above|these|them))?|no\s+(?:correct\s+)?(?:answer|option)", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """The answer a response commits to, or why none is read.

    `answer` is what `match_answer` compares with the reference: an option letter, a number as
    written ("1/2", "3 x 10^5", "1.2 million"), a short text, or a refusal's words; None when the
    reader declines. `how` names the rule that read it ("statement", "boxed", "whole", ...) or,
    when declined, starts with "declined:" and says why.
    """

    answer: str | None
    how: str

    @property
    def declined(self) -> bool:
        return self.answer is None


def _declined(reason: str) -> Reading:
    return Reading(None, f"declined: {reason}")


def is_refusal_text(text: str) -> bool:
    """"I cannot determine ...", "not enough information", "无法确定": a response that gives no answer."""
    return is_refusal(text) or bool(_REFUSAL_EXTRA.search(text)) or bool(_NO_OPTION.fullmatch(text.strip().rstrip(".。")))


def cut_follow_up(text: str) -> str:
    """The response up to the first exchange the model invented after answering: a line that opens
    a new question or turn ("Question:", "Q:", "Human:"), once something came before it, or a new
    "Choices:" block after an answer was already stated."""
    for match in _FOLLOW_UP.finditer(text):
        if text[: match.start()].strip():
            text = text[: match.start()]
            break
    for match in _NEW_CHOICES.finditer(text):
        if _STATEMENT.search(text, 0, match.start()) or _BOXED.search(text, 0, match.start()):
            return text[: match.start()]
    return text


# \boxed{...} with braces balanced to three levels ("\boxed{\frac{\sqrt{2}}{2}}"); the alternatives
# start differently, so matching stays linear.
_BOXED_CONTENT = re.compile(r"\\(?:boxed|fbox)\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
# Statements tried, from the last back: a response that states its answer thousands of times is
# read in bounded time.
MAX_STATEMENTS = 50
# A concluding "sentence" is read from its last 2,000 characters (a run-on list of numbers is no
# sentence to read whole).
MAX_SENTENCE_CHARS = 2_000


def _boxed(text: str) -> list[tuple[int, str]]:
    """Every \\boxed{...} with its position."""
    return [(m.start(), m.group(1).strip()) for m in _BOXED_CONTENT.finditer(text)]


def _fragment(text: str, start: int) -> str:
    """The value an answer statement gives: what follows it up to the end of its sentence or line
    (the next line when the statement ends its own, "Answer:\\nB")."""
    rest = text[start: start + 400]
    if not rest.split("\n", 1)[0].strip() and rest.strip():
        rest = rest.lstrip()
    line = rest.split("\n", 1)[0]
    # A sentence ends at a full stop that is not a decimal point, or at "。".
    end = re.search(r"(?<!\d)\.(?=\s|$)|\.(?=\s+[A-Z])|[。；;!?！？]", line)
    return line[: end.start()] if end else line


_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([-+]?\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}")


def _inline_maths(text: str) -> str:
    """Inline LaTeX as plain maths: "$\\frac{3}{4}$" -> "3/4" (its $ are no currency)."""
    text = re.sub(r"\$(?=[^\s$])([^$\n]{1,120}?)(?<=[^\s$])\$", r"\1", text)
    return _FRAC.sub(r"\1/\2", text)


def _strip_markup(fragment: str) -> str:
    body = fragment.strip().replace("\u2212", "-")
    body = re.sub(r"^\\[(\[]|\\[)\]]$", "", body).strip()
    if len(body) > 1 and body.startswith("$") and body.endswith("$"):
        body = body.strip("$").strip()  # LaTeX's $...$, not a currency sign
    # Inline maths inside a sentence ("最小值为$\\frac{250000}{81}$"): its $ are no currency.
    body = re.sub(r"\$(?=[^\s$])([^$\n]{1,120}?)(?<=[^\s$])\$", r"\1", body)
    body = re.sub(r"^\\boxed\s*\{", "", body.strip()).strip()  # a brace left unclosed
    priced = "$" in body[:1] + body[-1:] and (quantity := read_quantity(body)) is not None and quantity.currency == "$"
    if not priced:
        body = re.sub(r"^\$|\$$", "", body).strip()  # a $ left unclosed; "$20" and "3.5 $" keep their currency
    body = _FRAC.sub(r"\1/\2", body)
    body = re.sub(r"\\(?:mathrm|mathbf|operatorname)\s*\{~?([^{}]*)\}", r" \1", body)
    body = re.sub(r"\^\{(\w+)\}", r"^\1", body).replace("~", " ")
    body = re.sub(r"\\text\{([^{}]*)\}|\\mathrm\{([^{}]*)\}", lambda m: m.group(1) or m.group(2) or "", body)
    return body.strip().lstrip(":：").strip().strip("*_`\"'“”‘’").strip().rstrip(".,;:").strip()


def _quotable(options: list[str]) -> bool:
    """Whether options can be named by quoting their text: not when an option is a single letter
    or mark ("A", "(b)"), which a sentence says in passing ("a cat", "kite A")."""
    return all(len(normalize_text(o)) > 1 for o in options)


def _option_key(text: str) -> str:
    """An option or an answer as a comparable key: markup, LaTeX spacing and case removed, so that
    "\\boxed{\\frac{1}{4}}" is the option "$\\frac{1}{4}$" and "15^{\\circ}" is "$15^{\\circ}$"."""
    body = _strip_markup(text)
    body = re.sub(r"\\(?:left|right|,|!|;|quad)|\\text\s*\{([^{}]*)\}", lambda m: m.group(1) or "", body)
    body = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree", "°", body.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    return re.sub(r"[\s{}$]+", "", body).lower()


def _unit_value(option: str) -> Fraction | None:
    """The number of an option that is a number and a unit ("16 cm^2", "30°"), else None."""
    match = re.fullmatch(rf"\s*({NUMBER})\s*(?:[A-Za-z°%]+(?:\^?[23])?)?\s*", option)
    return to_fraction(match.group(1)) if match else None


def _option_by_value(body: str, options: list[str]) -> int | None:
    """The one option an answer equals as a value: the same key, the same number with the
    option's unit left out ("16" for "16 cm²"), or the same expression (math-verify)."""
    key = _option_key(body)
    keys = [_option_key(o) for o in options]
    same = [i for i, k in enumerate(keys) if k and k == key]
    if same:
        return same[0] if len(same) == 1 else None
    got = read_quantity(body)
    if got is not None and not got.label:
        numbered = [i for i, o in enumerate(options) if _unit_value(_strip_markup(o)) == got.value]
        if len(numbered) == 1:
            return numbered[0]
    if is_math_like(body) and len(body) <= MAX_MATH_CHARS and re.search(r"[\\^π√A-Za-z]", body):
        target = math_parse(clean(body))  # an expression (plain numbers were compared above)
        if target is not None:
            equal = [i for i, o in enumerate(options) if is_math_like(_strip_markup(o))
                     and (gold := math_parse(clean(_strip_markup(o)))) is not None and math_equal(gold, target)]
            if len(equal) == 1:
                return equal[0]
    return None


def _option_of(fragment: str, options: list[str], quote: bool = True) -> int | None | str:
    """Which option a statement's value names: its label ("(C)", "C", "C. 42", "option C"), its
    whole text, or its text opening the value ("No, it is not" names "No"); with `quote`, the one
    option it quotes; "several" when it names more than one ("B or C"); None when it names none."""
    body = _strip_markup(fragment)
    if not body:
        return None
    letters = LETTERS[: len(options)]
    if re.fullmatch(r"[A-H]{2,}|[A-H](?:\s*[、,，&/]\s*[A-H])+", body) and len(set(re.findall("[A-H]", body))) > 1:
        return "several"  # "AC", "A、C": more than one option
    by_text = [i for i, o in enumerate(options) if normalize_text(o) and normalize_text(o) == normalize_text(body)]
    if not by_text and (value := _option_by_value(body, options)) is not None:
        by_text = [value]
    label = _LABEL_AT_START.match(body)
    if label:
        letter = next(g for g in label.groups() if g).upper()
        rest = body[label.end():]
        if letter in letters:
            # "A, not B": an option ruled out is not a second candidate.
            kept = re.sub(r"(?i:\bnot|\brather than|\binstead of)\s+(?:option\s+)?\(?[A-Z]\)?(?![\w'’])", " ", rest)
            others = {m for m in re.findall(r"(?<![\w'’])\(?([A-Z])\)?(?![\w'’])", kept) if m in letters and m != letter}
            if others and re.search(r"\b(?:or|and)\b|[/、,，;；&]|或|和|与", kept):
                return "several"
            if by_text and by_text[0] != letters.index(letter) and len(body) <= 2:
                return None  # a one-letter option text that is another option's label: ambiguous
            said = re.sub(r"^(?:[\s.:)\]]|-(?!\d))+|[\s.]+$", "", rest)  # "(B) - 60°", "(B) -3": a dash apart, a minus kept
            if said and len(body) > 2:
                named = [i for i, o in enumerate(options) if normalize_text(o) and normalize_text(o) == normalize_text(said)]
                named = named or ([v] if (v := _option_by_value(said, options)) is not None else [])
                if named and named[0] != letters.index(letter):
                    return "several"  # "(B) 60°" when 60° is option C: the letter and the value disagree
            return letters.index(letter)
    if len(by_text) == 1:
        return by_text[0]
    norm = normalize_text(body)
    opening = [i for i, o in enumerate(options) if normalize_text(o) and re.match(rf"{re.escape(normalize_text(o))}\b", norm)
               and re.match(rf"\W*{re.escape(o.strip())}\s*[,.;:!]", body, re.IGNORECASE)]
    if len(opening) == 1:
        return opening[0]
    return quoted_option(body, options) if quote and _quotable(options) and len(body) <= 200 else None


# A benchmark's format instructions are not part of the question ("Hint: ... provide the final
# value, e.g., 1, 2, 3, at the end."): their numbers are examples, not figures an answer could echo.
_FORMAT_HINT = re.compile(r"(?im)^\s*hint\s*:.*$|\be\.g\.,?[^.\n]*|\bfor example,?[^.\n]*")


def _amounts(text: str, question: str = "") -> list[str]:
    """The numbers a sentence states, read whole, leaving out bounds ("more than 5"), numbers in
    parentheses, and numbers the question itself gives."""
    body = _PARENTHETICAL.sub(" ", text)
    echoed = {_amount_value(a) for a in _raw_amounts(_FORMAT_HINT.sub(" ", question))} - {None}
    found = []
    matches = list(_AMOUNT.finditer(body))
    # "3 or 4", "3 to 4", "3 and 4": a range or a pair, and neither number of it is the answer.
    paired = {k for i, join in enumerate(_joins(body, matches)) if join for k in (i, i + 1)}
    for i, match in enumerate(matches):
        if _BOUND_BEFORE.search(body[max(0, match.start() - 24): match.start()]) or i in paired:
            continue
        amount = match.group(0).strip()
        if _amount_value(amount) in echoed:
            continue
        found.append(amount)
    return found


def _raw_amounts(text: str) -> list[str]:
    return [m.group(0).strip() for m in _AMOUNT.finditer(text[:20_000])]


def _amount_value(amount: str):
    """A number's value for telling candidates apart ("1/2" and "0.5" are one candidate)."""
    words = amount.lower()
    if words in _NUMBER_WORDS:
        return Fraction(_NUMBER_WORDS[words])
    match = _AMOUNT.fullmatch(amount)
    if match is None or match["num"] is None:
        return None
    try:
        value = to_fraction(match["num"])
        if match["den"]:
            den = to_fraction(match["den"].strip()[1:].strip())
            if match["den"].strip().startswith(":"):
                return ("ratio", value, den)
            value = value / den if den else None
    except (ValueError, ZeroDivisionError):
        return None
    return (value, bool(match["exp"]), bool(match["pct"]), (match["scale"] or "").strip().lower(), match["cur"] or "")


_RANGE = re.compile(r"\b(?:from|between)\s+\S*\d[^.;]{0,40}?\b(?:to|and)\s+\S*\d", re.IGNORECASE)
# What joins two numbers into a range or a pair: "3 or 4", "3 to 4", "3-4", "three or four", "3 and 4".
_JOINED = re.compile(r"\s*(?:or|to|(?P<pair>and)|-|–)\s*", re.IGNORECASE)


def _is_range(body: str) -> bool:
    """Whether a text offers two numbers as a range or as alternatives ("from 12 to 15", "between 3
    and 4", "3 or 4", "3-4"): two answers, not one. Two numbers joined by "and" are a pair, not a
    range: `_amounts` leaves both out ("multiplying 3 and 4 gives 12")."""
    if _RANGE.search(body):
        return True
    return any(join and not join["pair"] for join in _joins(body, list(_AMOUNT.finditer(body))))


def _joins(body: str, amounts: list[re.Match]) -> list[re.Match | None]:
    """For each two neighbouring amounts of `body`, what joins them into a range or a pair, if
    anything does."""
    return [_JOINED.fullmatch(body, a.end(), b.start()) for a, b in zip(amounts, amounts[1:])]


def _result(body: str) -> str | None | bool:
    """What an equation gives ("x = 4", "5 + 3 = 8", "k = -10/3", "S = 14π"): its right side when
    that is a number or a constant expression; None when it is an expression in variables
    ("y = -2x + 5", "17.5*sqrt(3)" read as a number would be 17.5); False for several results
    ("x = 4, y = 5")."""
    if re.search(r"=[^=]*(?:[,，;；]|\band\b|和)[^=]*=", body):
        return False
    rhs = body.rsplit("=", 1)[1].strip().rstrip(".。")
    constant = re.sub(r"\\(?:frac|dfrac|sqrt|pi|cdot|times|left|right)\b|[π√°]", "", rhs)
    quantity = read_quantity(rhs)
    if quantity and (not quantity.label or pint_unit(quantity.label, quantity.currency) is not None):
        return rhs  # "8", "12 cm", "60°"
    if quantity and len(quantity.label) > 1 and (amount := _AMOUNT.match(rhs)):
        return amount.group(0).strip()  # "66 beats per minute": the number; not "2 x", a variable
    if is_math_like(rhs) and re.search(r"\d", rhs) and not re.search(r"[A-Za-z]", constant):
        return rhs
    return None


def _number_of(fragment: str, question: str = "") -> str | None | bool:
    """The number a statement's value gives: the one amount it states (what it equals when it is
    an equation); False when it states several different ones; None when none."""
    body = _strip_markup(fragment)
    if "=" in body:
        return _result(body)
    if _is_range(body):
        return False  # "from 12 to 15", "between 3 and 4": two numbers, not one answer
    amounts = _amounts(body)
    values = {_amount_value(a) for a in amounts}
    if not amounts:
        return None
    if len(values) > 1:
        return False
    return body if len(amounts) == 1 and read_quantity(body) else amounts[0]


def _value(fragment: str, options: list[str] | None, question: str) -> str | None:
    """What a statement's value answers: an option letter, a number, a short text, a refusal; None
    when it answers nothing ("the answer is not clear"), "several" when it names more than one."""
    body = _strip_markup(fragment)
    if not body:
        return None
    if is_refusal_text(body):
        return body
    if options:
        index = _option_of(body, options)
        if index == "several":
            return "several"
        return LETTERS[index] if index is not None else None
    if re.match(r"(?i)(?:not|neither|either)\b", body):
        return "several" if re.match(r"(?i)either\b", body) else None
    if read_quantity(body) or ("=" not in body and (is_math_like(body) or (_MATH_LIKE.match(body) and "\\" in body))):
        return body  # a number, or an expression ("30-5\\pi"), whole
    if re.fullmatch(r"[\d\s+\-().,/]+", body) and len(body) <= 40:
        return body  # digits in groups: a phone number, a code ("014 766 2660")
    number = _number_of(body, question)
    if number is False:
        return "several"
    words = body.split()
    if number is not None and (len(words) <= 4 or re.match(r"[-+$€£¥₹(]?\d|\\", body)):
        return body if "=" not in body and (read_quantity(body) or is_math_like(body)) else number
    if _MATH_LIKE.match(body) and re.search(r"\d|\\", body):
        return body
    # A short text answer; a long sentence (8 words, or 10 Chinese characters) states no answer.
    if "=" in body:
        return None  # an equation whose result is no number and no expression to compare
    return body if len(words) <= 8 and len(_CJK.findall(body)) <= 10 else None


def _last_statement(text: str, options: list[str] | None, question: str) -> tuple[str, str] | None:
    """(how, value) of the last explicit statement whose value answers the question."""
    found: list[tuple[int, str, str | int]] = [(start, "boxed", content) for start, content in _boxed(text)]
    found += [(m.start(), "statement", m.end()) for m in _STATEMENT.finditer(text)]
    for start, how, fragment in sorted(found, key=lambda f: f[0])[-MAX_STATEMENTS:][::-1]:
        if how == "statement":
            if _NOT_A_STATEMENT.search(text, max(0, start - 30), start):
                continue  # "To find the answer: ...", "to determine the correct option, ..."
            fragment = _fragment(text, fragment)
        value = _value(fragment, options, question)
        if value is not None:
            return how, value
    return None


def _strip_answer_label(text: str, options: list[str] | None) -> str:
    """"A: No, it is not." -> "No, it is not.": "A:" opening an answer is the word "Answer", not
    option A, unless what follows is option A itself (or nothing)."""
    match = re.match(r"^\s*A\s*[:：]\s+(?=\S)", text)
    if not match:
        return text
    rest = text[match.end():]
    if options and _option_of(rest.split("\n", 1)[0], options) == 0:
        return text
    if len(re.findall(r"[A-Za-z]+", rest.split("\n", 1)[0])) and not re.match(r"[A-Z](?![\w'’])", rest):
        return rest
    return text


def _sentences_of(text: str) -> list[str]:
    pieces = re.split(r"(?<=[.!?。！？])\s+|\n+|(?<=[。！？])", text)
    return [p.strip() for p in pieces if p.strip() and re.search(r"\w", p)]


def _concluding(text: str) -> str:
    """The sentence a response ends on, or the last one that draws a conclusion ("So, ...")."""
    sentences = [s[-MAX_SENTENCE_CHARS:] for s in _sentences_of(text)[-4:]]
    if not sentences:
        return ""
    for sentence in reversed(sentences):
        if _CONCLUSION_CUE.search(sentence):
            return sentence
    return sentences[-1]


# Words that rule an option out rather than choose it.
_RULES_OUT = re.compile(
    r"\b(?:not|isn't|incorrect|wrong|false|eliminat\w*|rule[sd]? out|excluded?)\b|错误|不正确|不对|不符合|排除", re.IGNORECASE
)
_CLAUSE = re.compile(r"[,;，；]|\b(?:so|thus|therefore|hence|but)\b|所以|因此|但是?", re.IGNORECASE)
# A sentence that ends on what something is: "The distance is 2√2.", "最小值为250000/81。"
_ENDS_ON_VALUE = re.compile(r"(?:\bis|\bequals|\bare|为|是|等于)\s*([^\s,，。；;]+)\s*$", re.IGNORECASE)


# A currency written after an amount: "20€", "20 euros", "20 EUR".
_CURRENCY_AFTER = re.compile(
    rf"\s*(?:[{_CURRENCY}]|(?:euros?|dollars?|pounds?|yen|yuan|rupees?|EUR|USD|GBP|JPY|CNY|INR)\b)", re.IGNORECASE)


def _with_currency(body: str, amount: str) -> str:
    """The amount as the sentence states it, with a currency written after it: read as a bare
    "20", "It costs 20€." would match a reference of "20 dollars"."""
    if amount[:1] in _CURRENCY:
        return amount
    # Where the amount ends, found as `_amounts` found it: a text search would find "20" in "120".
    ends = [m.end() for m in _AMOUNT.finditer(body) if m.group(0).strip() == amount]
    after = _CURRENCY_AFTER.match(body, ends[-1]) if ends else None
    return amount + body[ends[-1]:after.end()] if after else amount


def _read_sentence(sentence: str, options: list[str] | None, question: str) -> Reading:
    """A concluding sentence, read strictly."""
    sentence = _inline_maths(sentence)
    if is_refusal_text(sentence):
        return Reading(sentence.strip(), "refusal")
    if options:
        letters = LETTERS[: len(options)]
        named: set[str] = set()
        for clause in _CLAUSE.split(sentence):
            if not clause or _RULES_OUT.search(clause):
                continue  # "Option A is incorrect", "所以D选项错误": ruled out, not chosen
            named |= {g for m in _LETTER_IN_SENTENCE.finditer(clause) for g in m.groups() if g and g in letters}
            if _CJK.search(clause):
                named |= {m for m in _LETTER_IN_CJK.findall(clause) if m in letters}
        if len(named) > 1:
            return _declined("the sentence names several options")
        if named:
            return Reading(named.pop(), "sentence")
        quoted = quoted_option(sentence, options) if _quotable(options) and len(sentence) <= 300 else None
        if quoted is not None:
            return Reading(LETTERS[quoted], "sentence")
        return _declined("no option named")
    body = _PARENTHETICAL.sub(" ", sentence)
    if "=" in body:
        result = _result(_strip_markup(body))
        if not result:
            return _declined("an equation in variables, or several")
        return Reading(result, "sentence")
    else:
        total = None
        for total in _TOTAL_CUE.finditer(body):
            pass
        if total is not None and _AMOUNT.match(body, total.end()):
            body = body[total.end():]
    if _is_range(body):
        return _declined("a range of numbers")
    amounts = _amounts(body, question)
    values = {_amount_value(a) for a in amounts}
    if len(values) == 1:
        return Reading(_with_currency(body, amounts[-1]), "sentence")
    if len(values) > 1:
        return _declined("several numbers in the concluding sentence")
    value = _ENDS_ON_VALUE.search(sentence.rstrip(".。!！ "))
    if value and is_math_like(value.group(1)) and re.search(r"\d", value.group(1)):
        return Reading(value.group(1), "sentence")  # an expression it ends on: "2√2", "14π"
    if _raw_amounts(_PARENTHETICAL.sub(" ", sentence)):
        return _declined("only numbers from the question, or bounds")
    short = len(sentence.split()) <= 12 and len(_CJK.findall(sentence)) <= 10
    return Reading(_strip_markup(sentence), "sentence") if short else _declined("no answer stated")


def read_response(text: str, options: list[str] | None = None, question: str = "") -> Reading:
    """The final answer a model's response commits to (see the rules above); never raises."""
    try:
        reading = _read(text, options or None, question)
    except (RecursionError, ValueError, ZeroDivisionError, OverflowError, IndexError) as error:
        return _declined(f"unreadable ({type(error).__name__})")
    if reading.answer is not None and not normalize_text(reading.answer):
        return _declined("no answer stated")  # "...", "-", "**": punctuation or markup alone states nothing
    return reading


def _read(text: str, options: list[str] | None, question: str) -> Reading:
    text = _STAGE_TAG.sub(" ", text or "")
    text = unicodedata.normalize("NFKC", text[-READ_TAIL_CHARS * 5:]).replace("\u2212", "-")
    text = cut_follow_up(text)[-READ_TAIL_CHARS:].strip()
    if not text:
        return _declined("empty response")
    text = _strip_answer_label(text, options)
    statement = _last_statement(text, options, question)
    if statement:
        how, value = statement
        if value == "several":
            return _declined("the last statement names several answers")
        return Reading(value, how)
    whole = _strip_markup(text)
    if len(whole) <= 300 and is_refusal_text(whole):
        return Reading(whole, "refusal")
    if "\n" not in whole and len(whole) <= 80:
        if options:
            # "Option A is incorrect." names A to rule it out: the sentence reader below decides.
            ruled_out = _RULES_OUT.search(whole) and (_LABEL_AT_START.match(whole) or _LETTER_IN_SENTENCE.search(whole))
            index = None if ruled_out else _option_of(whole, options, quote=False)
            if isinstance(index, int):
                return Reading(LETTERS[index], "whole")
            if index == "several":
                return _declined("the response names several options")
        elif "=" in whole and _number_of(whole):
            return Reading(_number_of(whole), "whole")  # "5 + 3 = 8": the result
        elif read_quantity(whole) or is_math_like(whole) or (len(whole) <= 24 and not re.search(r"\s", whole) and not _CJK.search(whole)) \
                or re.fullmatch(r"[\d\s+\-().,/]+", whole):
            return Reading(whole, "whole")  # a number, an expression, a code ("LS-17414", "014 766 2660")
        elif not _raw_amounts(whole):
            value = _ENDS_ON_VALUE.search(_inline_maths(whole))
            if value and is_math_like(value.group(1)) and re.search(r"\d", value.group(1)):
                return Reading(value.group(1), "whole")  # "The distance is 2√2."
            return Reading(whole, "whole")  # a text
    bold = [m.group(1) for m in _BOLD.finditer(text) if not m.group(1).rstrip().endswith(":")]
    bold_values = {v for v in (_value(b, options, question) for b in bold[-1:]) if v and v != "several"}
    if bold_values and (options or _AMOUNT.search(bold[-1])):
        return Reading(bold_values.pop(), "bold")
    if options:
        first = text.split("\n", 1)[0]
        label = _LABEL_AT_START.match(first)
        if label and re.match(r"^\s*(?:\*\*)?\s*(?:\([A-Za-z]\)|[A-Z](?:[.):]|\s*$))", first):
            index = _option_of(first, options)
            if isinstance(index, int):
                return Reading(LETTERS[index], "label")
    return _read_sentence(_concluding(text), options, question)
