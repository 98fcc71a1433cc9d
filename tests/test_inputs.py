"""Reading and splitting input: offsets stay exact, bad input is named precisely."""

import pytest

from kgc_lite.errors import InputError, KgcError
from kgc_lite.io.inputs import BadRecord, Document, read_documents, split_units


def test_units_carry_exact_offsets():
    text = "Ann Lee lives in Paris. She works for Acme!\n\nNew paragraph here ?  Last one."
    units = list(split_units(Document("d", text)))
    assert [u.text for u in units] == ["Ann Lee lives in Paris.", "She works for Acme!", "New paragraph here ?",
                                       "Last one."]
    for i, u in enumerate(units):
        assert text[u.start:u.end] == u.text and u.chunk == i


def test_long_sentence_is_cut_at_spaces():
    text = " ".join(f"w{i}" for i in range(3000))
    units = list(split_units(Document("d", text), max_chars=200))
    assert all(len(u.text) <= 200 for u in units)
    assert " ".join(u.text for u in units) == text
    assert all(text[u.start:u.end] == u.text for u in units)


def test_unbroken_run_is_cut_anyway():
    units = list(split_units(Document("d", "x" * 1000), max_chars=300))
    assert "".join(u.text for u in units) == "x" * 1000


def test_jsonl_records_and_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "One."}\n\nnot json\n{"text": 3}\n{"id": 7, "text": "Two."}\n{"text": " "}\n')
    docs = list(read_documents([str(path)], jsonl=True))
    assert docs[0] == Document("a", "One.")
    assert isinstance(docs[1], BadRecord) and "in.jsonl:3" in docs[1].error
    assert isinstance(docs[2], BadRecord) and "in.jsonl:4" in docs[2].error
    assert docs[3] == Document("7", "Two.")
    assert isinstance(docs[4], BadRecord) and "empty text" in docs[4].error


@pytest.mark.parametrize("content, message", [
    (b"", "empty input"),
    (b"   \n\n", "empty input"),
    (b"\xff\xfeabc", "not valid UTF-8"),
    (b"ELF\x00\x01\x02", "binary"),
])
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(read_documents([str(path)]))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(KgcError, match="no such file"):
        list(read_documents([str(tmp_path / "nope.txt")]))
    with pytest.raises(KgcError, match="is a directory"):
        list(read_documents([str(tmp_path)]))


def test_initials_and_abbreviations_do_not_end_sentences():
    text = "Mr. Smith met John F. Kennedy at Acme Inc. in Boston. Then he left."
    assert [u.text for u in split_units(Document("d", text))] == [
        "Mr. Smith met John F. Kennedy at Acme Inc. in Boston.", "Then he left."]


def test_punctuation_only_pieces_join_the_unit_before():
    text = "He called it ` ` a one-sided account. ' '\nThen he left . ;"
    assert [u.text for u in split_units(Document("d", text))] == [
        "He called it ` ` a one-sided account. ' '", "Then he left . ;"]


def test_no_split_keeps_records_whole():
    text = "First sentence. Second one. Third."
    assert [u.text for u in split_units(Document("d", text), sentences=False)] == [text]
