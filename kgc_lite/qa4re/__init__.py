"""QA4RE: the relation of a given entity pair, asked as a multiple-choice question (one option per
candidate relation) or one yes/no statement per option."""
