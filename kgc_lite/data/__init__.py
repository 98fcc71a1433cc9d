"""The benchmark data sets under ../shared/data (ADE, CoNLL04, SciERC, SemEval, FewRel, Wiki-ZSL), loaded
as kgc_lite.types values."""
