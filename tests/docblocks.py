"""The code blocks of a reStructuredText page, as a reader sees them."""

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: *(?P<language>\S+)")
LITERAL = re.compile(r"::$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository: "README.rst", "docs/quickstart.rst"
    line: int  # of the directive, from 1
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0]

    @property
    def commands(self) -> list[str]:
        """A console block's commands, without their ``$`` prompts."""
        return [line.removeprefix("$ ") for line in self.text.splitlines() if line.strip()]


def code_blocks(page: str) -> list[Block]:
    """Every ``.. code-block::`` of ``page``, dedented; a ``::`` literal block
    (which would escape this list) is refused."""
    lines = (ROOT / page).read_text().splitlines()
    blocks = []
    for index, line in enumerate(lines):
        assert not LITERAL.search(line) or "code-block" in line, (
            f"{page}:{index + 1}: a '::' literal block; use '.. code-block::' so it is tested"
        )
        match = DIRECTIVE.match(line)
        if not match:
            continue
        indent = len(match.group("indent"))
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        text = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        blocks.append(Block(page, index + 1, match.group("language"), text))
    return blocks
