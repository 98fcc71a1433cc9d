"""What the model is shown and allowed to say: prompts (code or natural style, in-context examples),
GBNF grammars built from the schema and the input's own words, and retokenized views of the text."""
