"""Reading input (files, stdin, JSONL records; split into sentence-sized units) and writing output (JSONL that
is flushed line by line, resumable with -o/--resume)."""
