"""Benchmark text as people write it: the data sets' pre-tokenized sentences joined back
('Redmond , Washington .' -> 'Redmond, Washington.') with their mentions kept aligned."""

from __future__ import annotations

import re

from kgc_lite.types import Example

# -- ordinary punctuation from pre-tokenized text ---------------------------------------------------------
# Tokens that attach to the word before them ("Redmond ," -> "Redmond,"), to the word after them ("( 1994" ->
# "(1994"), and how some PTB-style tokens are written in ordinary text.
_GLUE_LEFT = {",", ".", ";", ":", "!", "?", "%", ")", "]", "}", "...", "…", "''", "'s", "'S", "'re", "'ve",
              "'ll", "'d", "'m", "'t", "n't", "N'T"}


_GLUE_RIGHT = {"(", "[", "{", "$", "#", "``", "`"}


_WRITTEN = {"``": '"', "''": '"', "`": "'", "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]"}


_ALNUM_END = re.compile(r"\w$")


_ALNUM_START = re.compile(r"^\w")


def detokenize(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Ordinary punctuation for a space-tokenized sentence, and each token's (start, end) in the result.

    `Redmond , Washington .` -> `Redmond, Washington.`; `( 1994 )` -> `(1994)`; `did n't`, `Ball 's` ->
    `didn't`, `Ball's`; `` `` x '' `` and `` ` x ' `` -> `"x"`, `'x'`; `" x "` -> `"x"` (straight quotes alternate
    open / close); `5-FU - induced` -> `5-FU-induced` and `20 g / g` -> `20 g/g` (a lone hyphen or slash between
    words, as ADE writes its hyphens); `370 , 500` -> `370,500` and `3 : 30` -> `3:30` between digits; a period
    token after a word that already ends in one (`U.S. .`) is dropped. `--` and CoNLL04's `_` dashes stay spaced.
    """
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    toks = [text[a:b] for a, b in spans]
    n = len(toks)
    written = [_WRITTEN.get(t, t) for t in toks]
    left = [False] * n    # no space before token i
    right = [False] * n   # no space after token i
    double_open = single_open = False
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else ""
        nxt = toks[i + 1] if i + 1 < n else ""
        between_words = bool(_ALNUM_END.search(prev) and _ALNUM_START.match(nxt))
        between_digits = prev.isdigit() and nxt.isdigit()
        if t in _GLUE_LEFT:
            left[i] = True
        if t in _GLUE_RIGHT:
            right[i] = True
        if t == "`":
            single_open = True
        elif t == "''":
            double_open = False
        elif t == "``":
            double_open = True
        elif t == '"':
            (left if double_open else right)[i] = True
            double_open = not double_open
        elif t == "'":
            if single_open or (prev[-1:] in ("s", "S") and _ALNUM_END.search(prev)):
                left[i] = True   # a closing quote, or the possessive of a plural ("Parks ' action")
                single_open = False
            else:
                right[i] = single_open = True
        elif t in ("-", "/") and between_words:
            left[i] = right[i] = True
        elif (t == "," and between_digits and len(nxt) == 3) or (t in (":", ".") and between_digits):
            left[i] = right[i] = True
        if t == "." and i and written[i - 1].endswith("."):
            written[i] = ""  # "the U.S. ." ends with one period in ordinary text
    out: list[str] = []
    offsets: list[tuple[int, int]] = []
    pos = 0
    for i, w in enumerate(written):
        if i and not (left[i] or right[i - 1]) and w:
            out.append(" ")
            pos += 1
        out.append(w)
        offsets.append((pos, pos + len(w)))
        pos += len(w)
    return "".join(out), offsets


def _token_aligned(text: str, mention: str) -> int:
    """Offset of the first occurrence of mention in text that starts and ends at token boundaries, or -1."""
    start = text.find(mention)
    while start >= 0:
        end = start + len(mention)
        if (start == 0 or text[start - 1] == " ") and (end == len(text) or text[end] == " "):
            return start
        start = text.find(mention, start + 1)
    return -1


def trim_sentence_period(mention: str) -> str:
    """The mention without a sentence period it swallowed ("Texas." -> "Texas"); a period that closes an
    initial or an abbreviation stays ("U.S.", "Apple Inc.")."""
    from kgc_lite.io.inputs import abbreviation_period
    while mention.endswith(".") and not abbreviation_period(mention, len(mention) - 1):
        mention = mention[:-1].rstrip()
    return mention


def detokenize_example(ex: Example, trim: bool = True) -> tuple[Example, int, int]:
    """The example in ordinary punctuation, each head and tail rewritten as the same tokens of the new text
    (so each stays an exact substring of it); how many triplets had to be dropped because a head or tail could
    not be found in the new text; and how many heads and tails lost a swallowed sentence period.

    trim: entity edges as ordinary text has them. Some gold mentions end with the sentence's period, where the
    original tokenizer left it on the last word (CoNLL04's "Texas." in "... in Austin , Texas."); in ordinary
    punctuation that period is not part of the name, so it is cut (trim_sentence_period). The converse: where the
    tokenizer split the period off an abbreviation that ended the sentence ("born in Concord , Mass ." with the
    gold "Concord , Mass"), ordinary text writes "Concord, Mass." and the period is the abbreviation's, so the
    mention gets it back ("Concord, Mass."), as "Apple Inc." keeps its own. Both count as trimmed."""
    from kgc_lite.io.inputs import abbreviation_period

    new_text, offsets = detokenize(ex.text)
    token_starts = {a: k for k, (a, _) in enumerate(m.span() for m in re.finditer(r"\S+", ex.text))}

    def mapped(mention: str) -> tuple[str, str] | None:
        """The mention in the new text, and the same with an abbreviation's split-off period given back."""
        at = _token_aligned(ex.text, mention)
        if at >= 0 and at in token_starts:
            first = token_starts[at]
            last = first + len(mention.split()) - 1
            if last < len(offsets):
                a, b = offsets[first][0], offsets[last][1]
                if not new_text[a:b]:
                    return None
                regained = (last + 1 < len(offsets) and offsets[last + 1] == (b, b + 1) and mention[-1:].isalnum()
                            and abbreviation_period(new_text, b))
                return new_text[a:b], new_text[a:b + regained]
        alone = detokenize(mention)[0]  # a mention inside a token: its own ordinary form, if the text has it
        return (alone, alone) if alone and alone in new_text else None

    kept, dropped, trimmed = [], 0, 0
    for t in ex.triplets:
        found_head, found_tail = mapped(t.head), mapped(t.tail)
        if found_head is None or found_tail is None:
            dropped += 1
            continue
        (head, full_head), (tail, full_tail) = found_head, found_tail
        if trim:
            short_head, short_tail = trim_sentence_period(full_head), trim_sentence_period(full_tail)
            if short_head and short_tail:
                trimmed += (short_head != head) + (short_tail != tail)
                head, tail = short_head, short_tail
        kept.append(t._replace(head=head, tail=tail))
    return Example(new_text, tuple(kept), ex.id), dropped, trimmed


def detokenize_examples(examples: list[Example], trim: bool = True) -> tuple[list[Example], dict]:
    """detokenize_example over a list: the new examples and {"dropped_triplets": n, "trimmed_mentions": m}."""
    out, dropped, trimmed = [], 0, 0
    for ex in examples:
        new, lost, cut = detokenize_example(ex, trim)
        out.append(new)
        dropped += lost
        trimmed += cut
    return out, {"dropped_triplets": dropped, "trimmed_mentions": trimmed}
