"""Word error rate, for checking transcripts against known text (a helper, not a test file).

Both texts are normalised first, so only the words count: case and punctuation are dropped,
apostrophes are removed inside words ("don't" == "dont"), hyphens split words, and number words
become digits ("One, two" == "1, 2"; "twenty-one" == "21"). The rate is the word-level
Levenshtein distance (substitutions + insertions + deletions) divided by the number of reference
words.

For output that holds a transcript among other text (timestamps, labels, subtitles),
:func:`in_order_recall` tells how much of the reference is there, in order.

Example::

    >>> word_error_rate("Hello world. One two three.", "hello, world! 1, 2, 3")
    0.0
    >>> in_order_recall("hello world", "00:01 Hello / 00:02 world!")
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["edit_distance", "in_order_recall", "normalise", "word_error_rate"]

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_WORD = re.compile(r"[a-z0-9]+")


def _numbers_as_digits(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _UNITS:
            out.append(str(_UNITS[word]))
        elif word in _TEENS:
            out.append(str(_TEENS[word]))
        elif word in _TENS:
            value = _TENS[word]
            follower = words[i + 1] if i + 1 < len(words) else ""
            if follower in _UNITS and _UNITS[follower] > 0:
                value += _UNITS[follower]
                i += 1
            out.append(str(value))
        else:
            out.append(word)
        i += 1
    return out


def normalise(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation, numbers as digits."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)  # don't -> dont
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    return _numbers_as_digits(_WORD.findall(text))


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The fewest substitutions, insertions and deletions turning one sequence into the other."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # the reference word is missing from the hypothesis
                    current[j - 1] + 1,  # the hypothesis has an extra word
                    previous[j - 1] + (ref_word != hyp_word),  # same word, or substituted
                )
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits per reference word after :func:`normalise`: 0.0 is a perfect transcript.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 for anything else.
    """
    ref = normalise(reference)
    hyp = normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def in_order_recall(reference: str, text: str) -> float:
    """The share of the reference's words found in ``text`` in the same order, other words
    allowed in between (their longest common subsequence over the reference's length)."""
    ref = normalise(reference)
    found = normalise(text)
    if not ref:
        return 1.0
    previous = [0] * (len(found) + 1)
    for ref_word in ref:
        current = [0]
        for j, word in enumerate(found, start=1):
            if word == ref_word:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1] / len(ref)
