"""The core values every stage passes along: a triplet, a gold example (sentence + triplets), and a
gold entity pair with its relation (SemEval-style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Triplet(NamedTuple):
    head: str
    relation: str
    tail: str
    head_type: str | None = None
    tail_type: str | None = None
    confidence: float | None = None  # the lowest probability of a token the model chose inside the triplet

    @property
    def key(self) -> tuple[str, str, str]:
        """What the strict protocol compares: exact, case-sensitive strings, types ignored."""
        return (self.head, self.relation, self.tail)


@dataclass(frozen=True)
class Example:
    text: str
    triplets: tuple[Triplet, ...]
    id: str | None = None


@dataclass(frozen=True)
class PairExample:
    """One SemEval-style relation classification item: a sentence with a marked (head, tail) pair."""
    id: str
    text: str
    head: str
    tail: str
    label: str | None = None
