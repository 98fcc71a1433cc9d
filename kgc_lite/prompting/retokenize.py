"""Ordinary text shown to a model in the pre-tokenized form it was trained on, and its spans mapped back.

The default extractor learned from ADE, CoNLL04 and SciERC, whose text is pre-tokenized ("Redmond , Washington
."). On text as people write it ("Redmond, Washington.") it loses about 4 F1, mostly at entity edges. So a model
marked `tokenized_text` in models.toml is shown each input split the same way: commas, colons, brackets, quotes,
a possessive 's and a sentence's final period stand apart; a period that closes an abbreviation or an initial
("Inc.", "U.S.", "J.") stays on its word. Every piece is a substring of the input, so each head and tail the
model copies maps back to the exact characters of the input ("Redmond , Washington" -> "Redmond, Washington").
Text that already looks pre-tokenized is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kgc_lite.io.inputs import abbreviation_period
from kgc_lite.prompting.grammar import pretokenized

_LEAD = "([{\"'`“‘«"
_TRAIL = ",;:!?)]}\"'”’»"
_POSSESSIVE = re.compile(r"(?<=\w)(?:'s|’s|')$")
# a clitic the text already stands apart ("month 's", "they 're"): its apostrophe is not an opening quote
_CLITIC = re.compile(r"['’](?:s|re|ve|ll|d|m|t)", re.IGNORECASE)


@dataclass(frozen=True)
class View:
    """The text as the model sees it, and where each of its characters came from in the input."""
    original: str
    shown: str
    origin: tuple[int, ...]     # origin[i]: index in `original` of shown[i] (-1 for an inserted space)

    def to_original(self, mention: str) -> str | None:
        """The input's characters for a span of the shown text (its first occurrence), or None if absent."""
        if not self.origin:  # nothing was split: the shown text is the input
            return mention if mention in self.original else None
        at = self.shown.find(mention)
        if at < 0 or not mention:
            return None
        start, end = self.origin[at], self.origin[at + len(mention) - 1]
        if start < 0 or end < 0:
            return None
        return self.original[start:end + 1]


def _pieces(word: str, start: int, last: bool, text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the pieces of one whitespace-delimited word at text[start:start+len(word)]."""
    a, b = start, start + len(word)
    head: list[tuple[int, int]] = []
    tail: list[tuple[int, int]] = []
    while a < b - 1 and text[a] in _LEAD and not _CLITIC.fullmatch(text, a, b):
        head.append((a, a + 1))
        a += 1
    while b - 1 > a:
        ch = text[b - 1]
        if ch in _TRAIL and not (ch in "'’" and _POSSESSIVE.search(text, a, b)):
            tail.append((b - 1, b))
            b -= 1
        elif ch == "." and (last or (b < len(text) and text[b:b + 1].isspace() and _next_capital(text, b)))\
                and not abbreviation_period(text, b - 1) and text[b - 2] != ".":
            tail.append((b - 1, b))
            b -= 1
        else:
            break
    m = _POSSESSIVE.search(text, a, b)
    if m and m.start() > a:
        tail.append((m.start(), b))
        b = m.start()
    return head + [(a, b)] + tail[::-1]


def _next_capital(text: str, at: int) -> bool:
    rest = text[at:].lstrip()
    return not rest or rest[0].isupper() or rest[0] in _LEAD


def view(text: str) -> View:
    """The pre-tokenized view of text; text itself when it already looks pre-tokenized or nothing splits."""
    if pretokenized(text):
        return View(text, text, ())
    words = list(re.finditer(r"\S+", text))
    pieces: list[tuple[int, int]] = []
    for k, m in enumerate(words):
        pieces += _pieces(m.group(), m.start(), k == len(words) - 1, text)
    shown_parts: list[str] = []
    origin: list[int] = []
    for i, (a, b) in enumerate(pieces):
        if i:
            shown_parts.append(" ")
            origin.append(-1)
        shown_parts.append(text[a:b])
        origin.extend(range(a, b))
    shown = "".join(shown_parts)
    if shown == text:
        return View(text, text, ())
    return View(text, shown, tuple(origin))
