"""The one error a bad spec or a bad table for a spec raises: its message says what to change."""


class SpecError(ValueError):
    """A model spec (or the data it is built from) that cannot be used; the message names the field."""
