"""Word-level inline diff of two texts, as a list of segments a template renders (and escapes).

Words and the whitespace between them are separate tokens, so the segments join back into
exactly the two texts: `"".join` of the "equal" and "delete" parts is the old text, of the
"equal" and "insert" parts the new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

_TOKEN = re.compile(r"\s+|[^\s]+")

Op = Literal["equal", "delete", "insert"]


@dataclass(frozen=True, slots=True)
class Segment:
    op: Op
    text: str


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Segment]:
    """Segments turning `old` into `new`; a replaced run of words is a delete then an insert.

    `autojunk` is off: with it, difflib ignores tokens that make up over 1% of a long text,
    which for words means every space and "the", and the diff falls apart.
    """
    a, b = tokenize(old), tokenize(new)
    segments: list[Segment] = []

    def add(op: Op, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", a[i1:i2])
        else:
            add("delete", a[i1:i2])
            add("insert", b[j1:j2])
    return segments
