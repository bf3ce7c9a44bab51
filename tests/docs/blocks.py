"""The code blocks of the docs, as the test of the docs sees them.

A fenced block is run, compiled or left alone according to its language and to the
HTML comment on the line before it (blank lines between are allowed):

- ``python``, no comment: **run**, in order, in one namespace per page;
- ``<!-- not-run: why -->``: not run; if it is Python, it must still compile (settings
  snippets, placeholders for a merchant's real credentials, code that needs WeChat's
  own servers);
- ``<!-- fragment: why -->``: a piece of something larger, neither run nor compiled;
- ``json``: parsed, unless it is a fragment;
- anything else (bash, ini, JavaScript, text): shown, never executed.

``<!-- docs-test: ACTION -->`` on a line of its own is a step the reader takes between two
blocks (``pay order``: the payer pays the order bound to ``order`` on the simulator).
See CONTRIBUTING.md, "Docs".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Action", "Block", "MarkupError", "parse"]

FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>not-run|fragment)\s*:(?P<why>.*?)-->\s*$")
ACTION = re.compile(r"^\s*<!--\s*docs-test\s*:(?P<what>.*?)-->\s*$")
# A comment that looks like a marker but is not one of ours: a typo must not pass.
NEAR_MISS = re.compile(r"<!--\s*(not[- _]?run|fragment|docs[- _]?test|skip|no[- _]?run)", re.I)

MARKED_LANGUAGES = {"python", "json"}


class MarkupError(ValueError):
    """A marker the test cannot honour (unknown, without a reason, on nothing)."""


@dataclass(frozen=True)
class Block:
    path: Path
    #: 1-based line of the block's first line of code.
    line: int
    language: str
    code: str
    #: ``"not-run"``, ``"fragment"`` or ``""`` (no marker).
    marker: str = ""
    why: str = ""

    @property
    def runs(self) -> bool:
        return self.language == "python" and not self.marker

    @property
    def compiles(self) -> bool:
        return self.language == "python" and self.marker != "fragment"

    def compiled(self):
        # Padded so that a traceback names the line of the Markdown file.
        return compile("\n" * (self.line - 1) + self.code, str(self.path), "exec")

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line}"


@dataclass(frozen=True)
class Action:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} ({self.what})"


def parse(path: Path) -> list[Block | Action]:
    """The page's code blocks and reader's steps, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    items: list[Block | Action] = []
    pending: tuple[str, str, int] | None = None  # a marker waiting for its block
    i = 0
    while i < len(lines):
        text = lines[i]
        fence = FENCE.match(text)
        if fence:
            indent, mark = fence["indent"], fence["fence"]
            language = (fence["info"].strip().split() or [""])[0].lower()
            end = i + 1
            closing = re.compile(rf"^[ ]*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
            while end < len(lines) and not closing.match(lines[end]):
                end += 1
            if end == len(lines):
                raise MarkupError(f"{path.name}:{i + 1}: a code block is never closed")
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[i + 1 : end]
            ]
            kind, why = "", ""
            if pending:
                kind, why, _ = pending
                pending = None
                if language not in MARKED_LANGUAGES:
                    raise MarkupError(
                        f"{path.name}:{i + 1}: a {kind} marker on a {language or 'plain'} "
                        "block, which is never run anyway: remove it"
                    )
            items.append(Block(path, i + 2, language, "\n".join(body) + "\n", kind, why))
            i = end + 1
            continue
        marker, action = MARKER.match(text), ACTION.match(text)
        if pending and text.strip():
            raise MarkupError(
                f"{path.name}:{pending[2]}: the {pending[0]} marker is not followed by a code block"
            )
        if marker:
            if not marker["why"].strip():
                raise MarkupError(f"{path.name}:{i + 1}: say why the block is {marker['kind']}")
            pending = (marker["kind"], marker["why"].strip(), i + 1)
        elif action:
            items.append(Action(path, i + 1, action["what"].strip()))
        elif NEAR_MISS.search(text):
            raise MarkupError(
                f"{path.name}:{i + 1}: not a marker the docs test knows: {text.strip()}"
            )
        i += 1
    if pending:
        raise MarkupError(f"{path.name}:{pending[2]}: the {pending[0]} marker ends the page")
    return items
