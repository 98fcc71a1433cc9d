"""The zero-shot relation data (FewRel, Wiki-ZSL): Wikidata relations with descriptions, the
unseen-relation splits, and the schema and statement template a relation gives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from kgc_lite.data.benchmarks import data_dir
from kgc_lite.errors import KgcError
from kgc_lite.schema import Schema, words_template
from kgc_lite.types import Example, Triplet

ZERO_RTE_SETS = ("fewrel", "wikizsl")   # Wikidata relations; zero_rte/unseen_{m}_seed_{s}/ splits


# -- FewRel / Wiki-ZSL zero-shot splits -------------------------------------------------------------------
def relation_identifier(name: str) -> str:
    """A Wikidata relation name as a schema relation name: "position played on team / speciality" ->
    "position_played_on_team_speciality" (schema names are letters, digits, '_' and '-')."""
    ident = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    if not ident or not ident[0].isalpha():
        ident = "r_" + ident
    return ident


@dataclass(frozen=True)
class WikidataRelation:
    id: str            # Wikidata property id, e.g. P19
    name: str          # as the data names it: "place of birth"
    description: str   # Wikidata's description

    @property
    def identifier(self) -> str:
        return relation_identifier(self.name)


def _zero_rte_root(dataset: str, root: str | Path | None) -> Path:
    if dataset not in ZERO_RTE_SETS:
        raise KgcError(f"unknown zero-shot data set {dataset!r}; choose one of {', '.join(ZERO_RTE_SETS)}")
    return data_dir(root) / dataset


def load_relations(dataset: str, root: str | Path | None = None) -> list[WikidataRelation]:
    """Every relation of FewRel or Wiki-ZSL (relations.json) with its Wikidata id and description."""
    path = _zero_rte_root(dataset, root) / "relations.json"
    try:
        records = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read {path}: {exc.strerror}") from None
    return [WikidataRelation(r["id"], r["name"], r["description"]) for r in records]


def zero_rte_splits(dataset: str, root: str | Path | None = None) -> list[str]:
    """The zero-shot split names present for a data set, e.g. unseen_5_seed_0."""
    folder = _zero_rte_root(dataset, root) / "zero_rte"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def zero_rte_labels(dataset: str, split: str, root: str | Path | None = None) -> dict[str, list[str]]:
    """labels.json of a zero-shot split: {"test": [relation names], "dev": [...]} (the held-out relations)."""
    path = _zero_rte_root(dataset, root) / "zero_rte" / split / "labels.json"
    if not path.is_file():
        known = ", ".join(zero_rte_splits(dataset, root)) or "none"
        raise KgcError(f"no zero-shot split {split!r} for {dataset} (known: {known})")
    return orjson.loads(path.read_bytes())


def held_out_relations(dataset: str, split: str, root: str | Path | None = None,
                       roles: tuple[str, ...] = ("test", "dev")) -> list[WikidataRelation]:
    """The relations a zero-shot split holds out (its test and dev labels), resolved to Wikidata ids through
    both data sets' relations.json (FewRel and Wiki-ZSL share ids)."""
    labels = zero_rte_labels(dataset, split, root)
    by_name: dict[str, WikidataRelation] = {}
    for other in (dataset, *[d for d in ZERO_RTE_SETS if d != dataset]):
        for r in load_relations(other, root):
            by_name.setdefault(r.name, r)
    out = []
    for role in roles:
        for name in labels.get(role, []):
            if name not in by_name:
                raise KgcError(f"{dataset}/{split}: held-out relation {name!r} is in no relations.json")
            out.append(by_name[name])
    return out


def load_wikidata_triplets(path: Path) -> list[tuple[Example, tuple[str, ...]]]:
    """Sentences of a FewRel / Wiki-ZSL file (CodeKGC format, each rel with its Wikidata "id"), relation names
    written as schema identifiers; with each sentence, the Wikidata ids of its triplets."""
    try:
        records = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise KgcError(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for i, r in enumerate(records):
        try:
            trips = tuple(Triplet(t["head"]["text"], relation_identifier(t["rel"]["text"]), t["tail"]["text"])
                          for t in r["triple_list"])
            ids = tuple(t["rel"].get("id", "") for t in r["triple_list"])
        except (KeyError, TypeError):
            raise KgcError(f"{path}: record {i} is not in the CodeKGC format") from None
        out.append((Example(r["text"], trips, str(i)), ids))
    return out


def zero_rte_path(dataset: str, split: str, root: str | Path | None = None) -> Path:
    """Where a zero-shot split's test set is (zero_rte/<split>/test.json), whether or not it exists."""
    return _zero_rte_root(dataset, root) / "zero_rte" / split / "test.json"


def load_zero_rte(dataset: str, split: str, root: str | Path | None = None
                  ) -> tuple[list[Example], list[WikidataRelation], Path]:
    """A zero-shot test set (zero_rte/<split>/test.json), the test relations its schema is built from (names
    and descriptions from relations.json, in labels.json's order), and the file's path."""
    path = zero_rte_path(dataset, split, root)
    zero_rte_labels(dataset, split, root)  # a split that does not exist fails here, with its own message
    if not path.is_file():
        raise KgcError(f"{dataset}/{split} has no test.json (its test set could not be recovered; see the data "
                       "README)")
    relations = held_out_relations(dataset, split, root, roles=("test",))
    if not relations:
        raise KgcError(f"{dataset}/{split}: labels.json lists no test relations")
    examples = [ex for ex, _ in load_wikidata_triplets(path)]
    return examples, relations, path



def wikidata_schema(relations: list[WikidataRelation], name: str) -> Schema:
    """A schema of Wikidata relations: the name as an identifier ("place_of_birth"), Wikidata's description, and
    the QA4RE statement from the name (qa4re_data.wikidata_relations; extraction prompts do not use it)."""
    return Schema(name, wikidata_relations(relations))



def wikidata_template(name: str) -> str:
    """The option statement of a Wikidata relation, from its name alone. Wikidata reads (item, property, value):
    a noun phrase becomes "the place of birth of {head} is {tail}", a verb or prepositional phrase "{head} owned
    by {tail}". Written for this project: one mechanical rule, as a user's relation set would get, not a
    hand-written statement per relation."""
    return words_template(name.replace("_", " ").split())


def wikidata_relations(relations) -> tuple:
    """schema.Relation objects for Wikidata relations (data.WikidataRelation), with wikidata_template statements."""
    from kgc_lite.schema import Relation
    return tuple(Relation(r.identifier, " ".join(r.description.split()) or r.name, template=wikidata_template(r.name))
                 for r in relations)
