"""Reading report.md as a reader does: its Reading blocks, their sentences, and the words that claim something."""
from __future__ import annotations

import re

CLAIM = re.compile(r"\b(lower|higher|reproduc\w*|beats?|better|worse|falls|rises|lowest|highest|best|worst)\b"
                   r"|as in the paper", re.IGNORECASE)


def readings(text: str) -> dict[str, str]:
    """{section title: its Reading block} for every table and figure of the report."""
    out, title, lines = {}, None, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("### "):
            title = line[4:]
        if line.startswith("**Reading.**"):
            block = [line]
            for nxt in lines[i + 1:]:
                if nxt.startswith("#"):
                    break
                block.append(nxt)
            out[title] = "\n".join(block).strip()
    return out


def sentences(block: str) -> list[str]:
    """Sentences and list items: split at line ends and at '. ' (decimals have no space after the point)."""
    return [s.strip() for s in re.split(r"\n|(?<=\.)\s+", block) if s.strip()]
