"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix, on one line.

    The message speaks Python (classes, sites, arguments): it is what a user of the library sees.
    ``cli``, when given, is the same message for the command line, naming config keys instead
    (``model.likelihood=normal``); the CLI prints it in place of the Python one.
    """

    def __init__(self, message: str, cli: str | None = None):
        super().__init__(message)
        self.cli = cli

    def for_cli(self) -> str:
        return self.cli or str(self)


def first_line(e: BaseException, empty: str | None = None) -> str:
    """The first line of an exception's message, for a one-line error; ``empty`` (the exception's type name when
    ``None``) when the message is blank."""
    text = str(e).strip()
    if text:
        return text.splitlines()[0]
    return type(e).__name__ if empty is None else empty
