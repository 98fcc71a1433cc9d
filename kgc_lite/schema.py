"""Relation schemas: which relations may be extracted, what they mean, and which entity types they join.

A schema is a TOML or JSON file:

    name = "family"
    description = "Family relations in biographies."      # optional
    entity_types = ["Person", "Place"]                     # optional
    directions = "given"                                   # optional, for QA4RE: "given" or "both" (below)
    [[relations]]
    name = "Parent_of"
    description = "the head is a parent of the tail"      # one line; goes into the prompt
    head = "Person"                                        # optional entity type of the head
    tail = "Person"                                        # optional
    template = "{head} is a parent of {tail}"              # optional; QA4RE option statement (default:
                                                           # from the name, "{head} parent of {tail}")
    [[examples]]                                           # optional in-context examples (3 are used)
    text = "Mia Long is the daughter of Tom Long."
    triplets = [["Tom Long", "Parent_of", "Mia Long"]]

`directions` says how `kgc-lite qa4re` reads an entity pair: "given" (default) takes head and tail in the
order given and offers one option per relation; "both" treats the pair as unordered (SemEval's e1/e2) and
offers each relation in both directions, {head}/{tail} swapped for the second.

Built-in schemas (conll04, ade, scierc, semeval) live in kgc_lite/schemas/ and use the data sets' own relation
names, so that scores compare with the published ones.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from kgc_lite.errors import KgcError
from kgc_lite.types import Example, Triplet

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Relation:
    name: str
    description: str
    head: str | None = None
    tail: str | None = None
    template: str | None = None

    def statement(self, head: str, tail: str) -> str:
        """The QA4RE option text for this relation between two mentions: the template, else one built from the
        name (name_template), else, for a name that says nothing ("R1"), "{head} <description> {tail}"."""
        template = self.template or name_template(self.name) or "{head} " + self.description + " {tail}"
        return template.format(head=head, tail=tail)

    def glossed(self, words: str | None = None) -> "Relation":
        """This relation with its description glossed after its statement ("the competition class of {head} is
        {tail} (competition class: official classification by a regulating body ...)"), so a judge trained with
        glosses (`train --gloss`) reads what an opaque name means. words: the name as words (default: from the
        identifier). A relation without a usable description, or whose statement is its description, is kept."""
        desc = short_description(self.description)
        template = self.template or name_template(self.name)
        if not desc or not template:
            return self
        words = words or " ".join(re.findall(r"[A-Za-z0-9]+", self.name))
        gloss = f"{words}: {desc}".replace("{", "{{").replace("}", "}}")  # text, not str.format placeholders
        return replace(self, template=f"{template} ({gloss})")


def short_description(text: str) -> str:
    """A description cut to its first sentence, without bracketed asides ("(see also P180: depicts)",
    "[for lyricist, use ...]"): the part worth reading after a statement."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", text or "")
    text = re.split(r"(?<=[a-z0-9])\.\s", " ".join(text.split()), maxsplit=1)[0]
    return text.strip(" ,;:.")


# Words that make a relation name read as a predicate between head and tail ("owned by", "located in", "has part");
# other names read as an attribute of the head ("the capital of {head} is {tail}").
VERB_FIRST = {"located", "contains", "follows", "followed", "crosses", "has", "licensed", "after", "applies", "owned",
              "distributed", "nominated", "said", "instance", "part", "member", "participant", "subclass"}
PREP_LAST = {"of", "in", "by", "for", "to", "as", "on", "at", "from", "with"}


def words_template(words: list[str]) -> str:
    """The statement rule the entail model was trained with (Wikidata reads item, property, value): a verb or
    prepositional phrase becomes "{head} owned by {tail}", a noun phrase "the place of birth of {head} is {tail}"."""
    verb = len(words) == 1 and words[0].lower().endswith("ed")  # a user's "Founded", "Acquired" (no Wikidata name)
    if words and (verb or words[0].lower() in VERB_FIRST or words[-1].lower() in PREP_LAST):
        return "{head} " + " ".join(words) + " {tail}"
    return "the " + " ".join(words) + " of {head} is {tail}"


def name_template(name: str) -> str | None:
    """A statement template from a schema identifier ("Operated_by" -> "{head} operated by {tail}", "founderOf"
    -> "{head} founder of {tail}", "CEO" -> "the CEO of {head} is {tail}"), or None when the name is a neutral
    label with no words in it ("R1", "P17")."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)
    if not any(len(w) > 1 and w.isalpha() for w in words):  # also "P17", "R1": one letter and digits
        return None
    return words_template([w.lower() if w[:1].isupper() and w[1:].islower() else w for w in words])


@dataclass(frozen=True)
class Schema:
    name: str
    relations: tuple[Relation, ...]
    description: str = ""
    entity_types: tuple[str, ...] = field(default_factory=tuple)
    examples: tuple[Example, ...] = field(default_factory=tuple)
    directions: str = "given"

    @property
    def relation_names(self) -> list[str]:
        return [r.name for r in self.relations]

    @property
    def typed(self) -> bool:
        """True when every relation names the types of its head and tail."""
        return all(r.head and r.tail for r in self.relations)

    def relation(self, name: str) -> Relation:
        for r in self.relations:
            if r.name == name:
                return r
        raise KeyError(name)

    def glossed(self) -> "Schema":
        """Every relation's statement followed by its description (Relation.glossed)."""
        return replace(self, relations=tuple(r.glossed() for r in self.relations))


def builtin_names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("kgc_lite.schemas").iterdir()
                  if p.name.endswith(".toml"))


def load_schema(name_or_path: str | Path) -> Schema:
    """A built-in schema by name, or a user schema from a .toml or .json file."""
    text_name = str(name_or_path)
    if text_name in builtin_names():
        source = resources.files("kgc_lite.schemas").joinpath(text_name + ".toml")
        return _parse(tomllib.loads(source.read_text("utf-8")), text_name)
    path = Path(name_or_path)
    if not path.exists():
        raise KgcError(f"schema {text_name!r} is neither a built-in ({', '.join(builtin_names())}) nor a file")
    try:
        raw = path.read_text("utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except (OSError, UnicodeDecodeError) as exc:
        raise KgcError(f"cannot read schema file {path}: {exc}") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KgcError(f"schema file {path} does not parse: {exc}") from None
    return _parse(data, str(path))


def _parse(data: object, where: str) -> Schema:
    def bad(msg: str) -> KgcError:
        return KgcError(f"bad schema {where}: {msg}")

    if not isinstance(data, dict):
        raise bad("expected a table with a 'relations' list")
    rels = data.get("relations")
    if isinstance(rels, dict) and rels and all(isinstance(v, dict) for v in rels.values()):
        # [relations.Works_for] tables keyed by name, the other way TOML writes a list of named tables
        for key, value in rels.items():
            if value.get("name", key) != key:
                raise bad(f"relation {key!r} has a different 'name' ({value['name']!r})")
        rels = [{**value, "name": key} for key, value in rels.items()]
    if not isinstance(rels, list) or not rels:
        raise bad("'relations' must be a non-empty list of tables, each with a 'name' and a 'description' "
                  "([[relations]] in TOML)")
    types = data.get("entity_types") or []
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise bad("'entity_types' must be a list of names")
    seen: set[str] = set()
    out = []
    for i, r in enumerate(rels, 1):
        if not isinstance(r, dict):
            raise bad(f"relation {i} is not a table")
        name = r.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad(f"relation {i} needs a 'name' of letters, digits, '_' or '-' (got {name!r})")
        if name in seen:
            raise bad(f"relation {name!r} is listed twice")
        seen.add(name)
        desc = r.get("description", "")
        if not isinstance(desc, str) or "\n" in desc:
            raise bad(f"relation {name!r}: 'description' must be one line of text")
        for key in ("head", "tail"):
            value = r.get(key)
            if value is not None and (not isinstance(value, str) or not _NAME.match(value)):
                raise bad(f"relation {name!r}: '{key}' must be an entity type name")
            if value is not None and types and value not in types:
                raise bad(f"relation {name!r}: {key} type {value!r} is not in entity_types")
        template = r.get("template")
        if template is not None and (not isinstance(template, str) or "{head}" not in template
                                     or "{tail}" not in template):
            raise bad(f"relation {name!r}: 'template' must contain {{head}} and {{tail}}")
        unknown = set(r) - {"name", "description", "head", "tail", "template"}
        if unknown:
            raise bad(f"relation {name!r}: unknown keys {sorted(unknown)}")
        out.append(Relation(name, desc or name.replace("_", " "), r.get("head"), r.get("tail"), template))
    directions = data.get("directions", "given")
    if directions not in ("given", "both"):
        raise bad(f"'directions' must be \"given\" or \"both\" (got {directions!r})")
    names = {r.name for r in out}
    examples = []
    for i, ex in enumerate(data.get("examples") or [], 1):
        text, trips = (ex.get("text"), ex.get("triplets")) if isinstance(ex, dict) else (None, None)
        if not isinstance(text, str) or not isinstance(trips, list):
            raise bad(f"example {i} needs 'text' and a 'triplets' list")
        parsed = []
        for t in trips:
            if not (isinstance(t, list) and len(t) == 3 and all(isinstance(x, str) for x in t)):
                raise bad(f"example {i}: each triplet is [head, relation, tail]")
            if t[1] not in names:
                raise bad(f"example {i}: relation {t[1]!r} is not in the schema")
            if t[0] not in text or t[2] not in text:
                raise bad(f"example {i}: head and tail must occur in the text")
            parsed.append(Triplet(*t))
        examples.append(Example(text, tuple(parsed)))
    return Schema(str(data.get("name") or Path(where).stem), tuple(out), str(data.get("description", "")),
                  tuple(types), tuple(examples), directions)
