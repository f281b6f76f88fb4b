"""Text from the server made safe to print.

A server controls error bodies, reasons, keys, field and file names; printed
raw, an escape sequence in one could rewrite the terminal (hide a line, fake
a prompt, set the window title). Every such text goes through
:func:`printable` before it reaches a message or the screen.
"""

import re

# C0 and C1 control characters and DEL, but newline and tab.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` as a string without control characters (newline and tab kept)."""
    return _CONTROL.sub("", str(text))
