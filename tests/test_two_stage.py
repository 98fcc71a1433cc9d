"""Two-stage extraction (`extract --two-stage`): the pair finder's training data, and the shipped pair finder
plus entail model on a schema of this test's own, through the CLI as a user runs it."""

from __future__ import annotations

import json

from kgc_lite.train.schema_mix import AugmentOptions, MultiSchemaData

from .conftest import run_cli
from .test_schema_data import needs_data

SCHEMA = """
name = "companies"
[[relations]]
name = "founded_by"
description = "a company was founded by a person"
template = "{head} was founded by {tail}"
[[relations]]
name = "headquartered_in"
description = "a company has its headquarters in a place"
template = "{head} has its headquarters in {tail}"
[[relations]]
name = "born_in"
description = "a person was born in a place"
template = "{head} was born in {tail}"
"""

TEXT = ("Larry Page co-founded Google with Sergey Brin.\n"
        "The bank is headquartered in Frankfurt, the largest city of Hesse.\n"
        "The weather was mild all week.\n")


@needs_data
def test_pair_finder_data_names_every_labelled_pair_once_as_related_to():
    multi = MultiSchemaData(("conll04",), seed=3, aug=AugmentOptions(pairs=True))
    for i in range(0, len(multi), 97):
        schema, ex = multi.item(i)
        assert schema.name == "pairs" and list(schema.relation_names) == ["related_to"]
        pairs = [(t.head, t.tail) for t in ex.triplets]
        assert len(pairs) == len(set(pairs))
        assert all(t.relation == "related_to" and t.head in ex.text and t.tail in ex.text for t in ex.triplets)
        s, j, copy = multi.index[i]
        source = multi.sources[s].examples[j]
        if not copy:  # the tokenized original: every labelled pair is there (the period-trim aside)
            assert len(pairs) == len({(t.head.rstrip(" ."), t.tail.rstrip(" .")) for t in source.triplets})


def test_two_stage_extract_names_relations_from_the_users_schema(tmp_path):
    schema = tmp_path / "companies.toml"
    schema.write_text(SCHEMA)
    done = run_cli("extract", "--two-stage", "--schema", str(schema), "-t", "2", input=TEXT.encode())
    assert done.returncode == 0, done.stderr.decode()
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["text"] for r in records] == TEXT.splitlines()
    found = set()
    for r in records:
        for t in r["triplets"]:
            assert t["relation"] in ("founded_by", "headquartered_in", "born_in")
            assert 0.0 <= t["confidence"] <= 1.0
            for role in ("head", "tail"):
                start, end = t[f"{role}_span"]
                assert TEXT[start:end] == t[role]
            found.add((t["head"], t["relation"], t["tail"]))
    assert ("Google", "founded_by", "Larry Page") in found   # stage 2 turned the pair the right way round
    assert records[2]["triplets"] == []


def test_two_stage_refuses_what_it_cannot_do():
    for args, says in ((["--decoder", "plain"], "--one-pass"),
                       (["--model", "smollm2-135m-kg"], "--pair-model"),
                       (["--pair-model", "smollm2-135m-kg"], "belong to --two-stage")):
        done = run_cli("extract", *(["--two-stage"] if "belong" not in says else []), *args, input=b"x\n")
        assert done.returncode == 2 and says in done.stderr.decode()
        assert done.stderr.decode().count("\n") == 1 and b"Traceback" not in done.stderr


def test_eval_gloss_states_the_options_of_qa4re_or_two_stage_only():
    done = run_cli("eval", "-d", "conll04", "--one-pass", "--gloss", "--limit", "1")
    assert done.returncode == 2 and "--gloss states the options" in done.stderr.decode()
    assert done.stderr.decode().count("\n") == 1 and b"Traceback" not in done.stderr


@needs_data
def test_eval_two_stage_on_a_zero_shot_split_records_both_models(tmp_path):
    out = tmp_path / "r.json"
    # two stages are the default on a zero-shot split: the judge's entail options need no --two-stage
    done = run_cli("eval", "-d", "fewrel", "--split", "unseen_5_seed_0", "--sample", "4",
                   "--entail-examples", "1", "--entail-layout", "question-first", "-t", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr.decode()
    doc = json.loads(out.read_text())
    stages = doc["config"]["two_stage"]
    assert stages["pair_model"]["name"] == "smollm2-135m-pairs"
    assert stages["qa_model"]["name"] == "smollm2-135m-qa4re-entail"
    assert stages["entail_examples"] == 1  # the judge's demonstrations and layout reach it and are recorded
    assert stages["entail_layout"] == "question-first"
    assert doc["data"]["sentences"] == 4 and "single_triplet_accuracy" in json.dumps(doc["metrics"])


def test_extract_runs_two_stages_for_schemas_the_default_model_was_not_trained_on():
    from kgc_lite.extract.pipeline import default_two_stage
    railways = "examples/railways/railways.toml"
    assert not default_two_stage("conll04", None, "fast") and not default_two_stage("scierc", None, "fast")
    assert default_two_stage(railways, None, "fast") and default_two_stage("semeval", None, "fast")
    assert not default_two_stage(railways, "smollm2-135m-kg", "fast")   # a model named: one pass with it
    assert not default_two_stage(railways, None, "plain")
    done = run_cli("extract", "--schema", railways, "--icl", "1", input=b"x\n")
    assert done.returncode == 2 and "add --one-pass" in done.stderr.decode()
    assert done.stderr.decode().count("\n") == 1


def test_a_schema_of_more_than_twelve_relations_runs_two_stages(tmp_path):
    """13 relations in both directions and none of the above are 27 statements: more than letters A-Z, which
    only a one-letter answer needs. The entail judge takes them one at a time, so a larger schema works."""
    names = ["Born_in", "Died_in", "Lives_in", "Works_for", "Founded", "Married_to", "Parent_of", "Sibling_of",
             "Studied_at", "Member_of", "Leader_of", "Citizen_of", "Owner_of"]
    schema = tmp_path / "bio.json"
    schema.write_text(json.dumps({"name": "bio", "relations": [{"name": n, "description": n} for n in names]}))
    done = run_cli("extract", "--schema", str(schema), "-t", "2", input=b"Bill Gates founded Microsoft .\n")
    assert done.returncode == 0, done.stderr.decode()
    (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert all(t["relation"] in names for t in record["triplets"])
    letters = run_cli("qa4re", "--schema", str(schema), "--answer", "logits", "--shuffle",
                      input=b'{"text": "Bill Gates founded Microsoft .", "head": "Bill Gates", "tail": "Microsoft"}')
    assert letters.returncode == 0, letters.stderr.decode()  # 14 options in the given direction: letters do
