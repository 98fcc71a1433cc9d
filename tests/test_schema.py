"""Schema loading: built-ins, user files, and clear refusals of bad files."""

import json

import pytest

from kgc_lite.errors import KgcError
from kgc_lite.schema import builtin_names, load_schema

from .conftest import FIXTURES


def test_builtins_use_the_data_sets_relation_names():
    assert {"ade", "conll04", "scierc"} <= set(builtin_names())
    assert load_schema("conll04").relation_names == ["Work_for", "Kill", "Organization_based_in", "Live_in",
                                                     "Located_in"]
    assert load_schema("ade").relation_names == ["Adverse_effect"]
    assert len(load_schema("scierc").relations) == 7


def test_builtin_examples_are_consistent():
    for name in ("ade", "conll04", "scierc"):
        schema = load_schema(name)
        assert len(schema.examples) >= 3
        for ex in schema.examples:
            for t in ex.triplets:
                assert t.relation in schema.relation_names and t.head in ex.text and t.tail in ex.text


def test_user_toml_schema():
    schema = load_schema(FIXTURES / "family_schema.toml")
    assert schema.relation_names == ["Parent_of", "Born_in"]
    assert schema.relation("Born_in").tail == "Place"
    assert schema.relation("Parent_of").statement("Ann", "Bo") == "Ann is a parent of Bo"
    assert schema.typed


def test_user_json_schema(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"relations": [{"name": "Owns", "description": "the head owns the tail"}]}))
    schema = load_schema(path)
    assert schema.name == "s" and schema.relation_names == ["Owns"] and not schema.typed


def test_relations_keyed_by_name_read_as_the_list_form(tmp_path):
    """`[relations.Sells]` tables (TOML's other way to write named tables) read as `[[relations]]` with that
    name, in file order."""
    path = tmp_path / "shops.toml"
    path.write_text('[relations.Sells]\ndescription = "the store sells the product"\n'
                    '[relations.Owned_by]\ndescription = "the store is owned by the person"\ntail = "Person"\n')
    schema = load_schema(path)
    assert schema.relation_names == ["Sells", "Owned_by"]
    assert schema.relation("Sells").description == "the store sells the product"
    assert schema.relation("Owned_by").tail == "Person"


@pytest.mark.parametrize("content, message", [
    ("relations = []", "non-empty"),
    ('[[relations]]\nname = "bad name"', "name"),
    ('[[relations]]\nname = "A"\n[[relations]]\nname = "A"', "twice"),
    ('entity_types = ["P"]\n[[relations]]\nname = "A"\nhead = "Q"', "not in entity_types"),
    ('[[relations]]\nname = "A"\ntemplate = "{head} only"', "template"),
    ('[[relations]]\nname = "A"\ncolour = "red"', "unknown keys"),
    ('[relations.A]\nname = "B"', "different 'name'"),
    ('relations = "A"', r"\[\[relations\]\]"),
    ('[[relations]]\nname = "A"\n[[examples]]\ntext = "x y"\ntriplets = [["x", "B", "y"]]', "not in the schema"),
    ('[[relations]]\nname = "A"\n[[examples]]\ntext = "x y"\ntriplets = [["x", "A", "z"]]', "occur in the text"),
    ("this is not toml", "does not parse"),
])
def test_bad_schema_files_are_refused_in_one_sentence(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(KgcError, match=message) as info:
        load_schema(path)
    assert "\n" not in str(info.value)


def test_unknown_schema_name():
    with pytest.raises(KgcError, match="neither a built-in"):
        load_schema("no-such-schema")


def test_statements_without_a_template_come_from_the_name():
    """A relation with no template is stated by the rule the entail model was trained with (its names as a
    predicate or an attribute); only a name with no words in it falls back to the description."""
    from kgc_lite.schema import Relation, name_template
    assert name_template("Operated_by") == "{head} operated by {tail}"
    assert name_template("founderOf") == "{head} founder of {tail}"
    assert name_template("CEO") == "the CEO of {head} is {tail}"
    assert name_template("Founded") == "{head} founded {tail}"  # one word in -ed: a verb, not "the founded of"
    assert name_template("twinned administrative body") == "the twinned administrative body of {head} is {tail}"
    assert name_template("R1") is None and name_template("P17") is None
    assert Relation("Runs_on", "the train type is used on the line").statement("ICE 3", "HSL 1") == "ICE 3 runs on HSL 1"
    assert Relation("R2", "the train is used on the line").statement("A", "B") == "A the train is used on the line B"
    assert Relation("Runs_on", "x", template="{head} serves {tail}").statement("A", "B") == "A serves B"


def test_a_gloss_follows_the_statement_with_the_short_description():
    """`--gloss`: the statement, then "(name: description)" cut to its first sentence without bracketed asides;
    braces in a description are text, not placeholders; a name with no words keeps its description statement."""
    from kgc_lite.schema import Relation, Schema, short_description
    assert short_description("primary topic of a work (see also P180: depicts)") == "primary topic of a work"
    assert short_description('person(s) who wrote the music [for lyricist, use "lyrics by" (P676)]') == \
        "person who wrote the music"
    assert short_description("location of the item. In case of an administrative entity use P131.") == \
        "location of the item"
    r = Relation("competition_class", "official {classification} by a regulating body")
    assert r.glossed().statement("A", "B") == \
        "the competition class of A is B (competition class: official {classification} by a regulating body)"
    assert r.glossed("class of competition").statement("A", "B").endswith("(class of competition: official "
                                                                         "{classification} by a regulating body)")
    assert Relation("R2", "the train is used on the line").glossed().statement("A", "B") == \
        "A the train is used on the line B"
    assert Relation("Runs_on", "").glossed().statement("A", "B") == "A runs on B"
    schema = Schema("s", (r, Relation("Runs_on", "the line a train type serves", template="{head} serves {tail}")))
    assert [x.statement("A", "B") for x in schema.glossed().relations][1] == \
        "A serves B (Runs on: the line a train type serves)"
