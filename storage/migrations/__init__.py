"""Schema migrations, one module per backend: ordered, named, and recorded in the database
they were applied to (the simonw/llm approach). A release appends; applied entries are
never edited."""
