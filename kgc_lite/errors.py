"""User-facing errors: one sentence each, printed on one line by the CLI, never as a traceback."""


class KgcError(Exception):
    """A problem the user can fix (bad input, missing model, bad schema). The message is the whole story."""


class InputError(KgcError):
    """One input record is bad; with --on-error skip the run goes on after reporting it."""
