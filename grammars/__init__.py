"""GBNF grammar templates, filled in by kgc_lite.grammar (installed as the package kgc_lite.grammars)."""
