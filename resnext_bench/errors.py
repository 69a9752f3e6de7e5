"""The one exception type for mistakes a user can make (bad files, missing data, impossible C x d)."""


class UserError(Exception):
    """A user-caused error: the CLI prints it as one line and exits with code 2."""


def printable(text: object) -> str:
    """User text (an id, a path) safe inside a one-line message: control characters and undecodable
    bytes shown as Python escapes ("a\\nb"), everything else as typed."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
