"""The configuration: the typed model, its cache and its editor."""
