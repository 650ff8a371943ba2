"""The conversation store: the only package that contains SQL."""
