"""Built-in relation schemas (TOML), loaded by kgc_lite.schema."""
