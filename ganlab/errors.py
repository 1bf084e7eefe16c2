"""The one error type users see: its message says what was wrong and what to do."""


class GanlabError(ValueError):
    """A problem with user input, data or a checkpoint, explained in one line."""
