"""Plain text is split as it is read (constant memory for any stream): the units, and the errors, are those of
the whole text, wherever the blocks happen to end."""

import io
import random

import pytest

from kgc_lite.errors import InputError
from kgc_lite.io.inputs import Document, StreamedDocument, read_stream, split_units

PIECES = ["Mr. Smith went to Washington .", "John F. Kennedy died.", "Hello!", "\n", "\n\n", "  ", " ", "\t", ";",
          '"', ")", "Acme Inc. said so.", "a" * 300, "word " * 80, "Is it? Yes.", "U.S. troops left.", "\r\n",
          "Ünïcödé text . 東京 に 住む .", "x.", "...", ". . .", "  \n  ", "Dr.", "\n;\n", "end"]
BOM = b"\xef\xbb\xbf"


def _blocks(text, rng):
    i = 0
    while i < len(text):
        n = rng.choice([1, 2, 3, 7, 50, 400, 5000])
        yield text[i:i + n]
        i += n


def test_streamed_units_equal_whole_text_units():
    rng = random.Random(1)
    units = 0
    for _ in range(600):
        text = "".join(rng.choice(PIECES) + rng.choice(["", " ", "\n", "  "]) for _ in range(rng.randint(0, 40)))
        max_chars = rng.choice([50, 80, 200, 1200])
        want = list(split_units(Document("d", text), max_chars, True))
        got = list(split_units(StreamedDocument("d", "", _blocks(text, rng)), max_chars, True))
        assert got == want, (text, max_chars)
        units += len(want)
    assert units > 5000


def test_no_split_joins_the_stream():
    text = "word " * 700
    want = list(split_units(Document("d", text), 300, False))
    assert list(split_units(StreamedDocument("d", "", iter([text[:10], text[10:]])), 300, False)) == want


class _Trickle(io.BytesIO):
    """A pipe that hands over a few bytes at a time."""

    def __init__(self, data, rng):
        super().__init__(data)
        self.rng = rng

    def read1(self, n=-1):
        return super().read1(self.rng.choice([1, 2, 3, 5, 100]))


def _error(raw, rng):
    try:
        for doc in read_stream(_Trickle(raw, rng), "f.txt"):
            list(split_units(doc))
    except InputError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("raw, message", [
    (b"", "f.txt: empty input"),
    (b" \n\t ", "f.txt: empty input"),
    (BOM, "f.txt: empty input"),
    (b"\x7fELF\x00\x00\x01", "f.txt: binary data, not text"),
    (b"\xff\xfe\xfa", "f.txt: not valid UTF-8 (byte 0)"),
    (b"abc\xe2\x82", "f.txt: not valid UTF-8 (byte 3)"),
    (BOM + b"ab\xffc", "f.txt: not valid UTF-8 (byte 5)"),  # a file offset: the BOM counts
    (b"x. " * 30000 + b"\xc3(", "f.txt: not valid UTF-8 (byte 90000)"),
    (b"ok \xe2\x82\xac text .", None),
])
def test_errors_are_those_of_the_whole_text(raw, message):
    rng = random.Random(3)
    for _ in range(5):
        assert _error(raw, rng) == message


def test_units_come_before_the_stream_ends():
    """The point of streaming: the first units are ready while the rest of the stream is still unread."""
    read = []

    def blocks():
        for i in range(1000):
            read.append(i)
            yield f"Sentence number {i} is here .\n"

    units = split_units(StreamedDocument("d", "", blocks()), 1200, True)
    first = next(units)
    assert first.text == "Sentence number 0 is here ." and len(read) < 5
