"""A small terminal for tests: what a screen shows after some output.

It understands what synctool's status lines write (carriage return, newline,
cursor up, erase to the end of the line and of the screen) and wraps at the
width like a terminal; any other escape sequence fails the test, so nothing
unexpected reaches a user's terminal unnoticed.
"""

import re

SEQUENCE = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def render(output: str, width: int = 80) -> list[str]:
    """The screen's lines (without trailing blanks) after ``output``."""
    rows: list[list[str]] = [[]]
    row = col = 0
    index = 0
    while index < len(output):
        char = output[index]
        if char == "\x1b":
            match = SEQUENCE.match(output, index)
            assert match, f"unexpected escape sequence: {output[index : index + 8]!r}"
            count, command = int(match.group(1) or 1), match.group(2)
            if command == "A":
                row = max(row - count, 0)
            elif command == "K":
                del rows[row][col:]
            elif command == "J":
                del rows[row][col:]
                del rows[row + 1 :]
            else:
                raise AssertionError(f"unexpected escape sequence {match.group(0)!r}")
            index = match.end()
            continue
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
        else:
            if col >= width:  # the terminal wraps
                row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
            line = rows[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        while len(rows) <= row:
            rows.append([])
        index += 1
    lines = ["".join(line).rstrip() for line in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines
