"""report.html: the Markdown report as one self-contained page to browse from a file, with no server.

The page is made from report.md itself, so it says exactly what the Markdown says: figures are embedded
as data URIs, tables sort on a click of their header, each reading stands beside its table or figure,
and the provenance sections fold away. A content security policy forbids every fetch: whatever opens the
page (a laptop, a cluster's shared folder) needs nothing beside it.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

from ..errors import UserError
from ..fsutil import write_text

# Sections that say where the numbers come from rather than what they are: folded by default.
PROVENANCE_PREFIXES = ("Environment", "How the readings are computed", "How this was produced")
READING_MARK = "**Reading.**"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 0 1.5em 3em; color: #222; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #bbb; }
details > summary { cursor: pointer; }
details > summary h2 { display: inline; border: 0; }
.pair { display: grid; grid-template-columns: minmax(0, 3fr) minmax(16em, 2fr); gap: 1.5em; align-items: start; }
@media (max-width: 1000px) { .pair { grid-template-columns: 1fr; } }
.reading { background: #f6f7f9; border-left: 3px solid #7a8aa6; padding: .2em 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .2em .55em; }
thead tr:last-child th { background: #eef0f4; cursor: pointer; user-select: none; }
thead tr:last-child th[aria-sort="ascending"]::after { content: " \\25B2"; }
thead tr:last-child th[aria-sort="descending"]::after { content: " \\25BC"; }
img { max-width: 100%; height: auto; }
code { background: #f0f0f0; padding: 0 .2em; }
"""

# Sorting: the report's tables carry their column names in a bold first body row (Markdown has one header
# row only); those rows move to the header, and a click on a last-row header cell sorts the body by it.
# Numbers sort as numbers (k/M/G suffixes, the minus sign, "1.85 ± 0.72 (6)" by its mean); blanks and
# dashes sort last either way.
SCRIPT = r"""
(function () {
  function headerLike(row) {
    var cells = row.cells, bold = 0;
    for (var i = 0; i < cells.length; i++) {
      var text = cells[i].textContent.trim();
      if (!text) continue;
      var s = cells[i].querySelector('strong');
      if (!s || s.textContent.trim() !== text) return false;
      bold++;
    }
    return bold > 0;
  }
  function key(text) {
    var t = text.trim().replace(/\u2212/g, '-');
    var m = t.match(/^[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?/i);
    if (!m) return {blank: t === '' || t === '\u2014' || t === '-', num: null, text: t.toLowerCase()};
    var v = parseFloat(m[0]), unit = t.charAt(m[0].length);
    if (unit === 'k') v *= 1e3; else if (unit === 'M') v *= 1e6; else if (unit === 'G') v *= 1e9;
    return {blank: false, num: v, text: t.toLowerCase()};
  }
  function compare(a, b) {
    if (a.blank !== b.blank) return a.blank ? 1 : -1;
    if (a.num !== null && b.num !== null) return a.num - b.num;
    if (a.num !== null) return -1;
    if (b.num !== null) return 1;
    return a.text < b.text ? -1 : a.text > b.text ? 1 : 0;
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    rows.map(function (row, i) { return {row: row, i: i, k: key(row.cells[col] ? row.cells[col].textContent : '')}; })
        .sort(function (a, b) {
          if (a.k.blank !== b.k.blank) return a.k.blank ? 1 : -1;
          return dir * compare(a.k, b.k) || a.i - b.i;
        })
        .forEach(function (item) { body.appendChild(item.row); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var head = table.tHead || table.createTHead(), body = table.tBodies[0];
    while (body && body.rows.length > 1 && headerLike(body.rows[0])) {
      var row = body.rows[0], tr = document.createElement('tr');
      Array.prototype.forEach.call(row.cells, function (cell) {
        var th = document.createElement('th');
        th.innerHTML = cell.innerHTML;
        th.style.textAlign = cell.style.textAlign;
        tr.appendChild(th);
      });
      head.appendChild(tr);
      body.removeChild(row);
    }
    var last = head.rows[head.rows.length - 1];
    Array.prototype.forEach.call(last.cells, function (th, col) {
      th.title = 'sort by this column';
      th.addEventListener('click', function () { sortBy(table, col, th); });
    });
  });
})();
"""


@dataclass
class Section:
    """A heading and what follows it up to the next heading of its level or above."""

    level: int
    title: str
    heading: list = field(default_factory=list)
    body: list = field(default_factory=list)
    children: list = field(default_factory=list)


def _parser() -> MarkdownIt:
    # Raw HTML in the Markdown is shown as text, never run: the report quotes names a user chose.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _blocks(tokens: list) -> list[list]:
    """Top-level blocks: each from an opening token to its matching close (or one self-contained token)."""
    blocks, i = [], 0
    while i < len(tokens):
        j, depth = i, 0
        while True:
            depth += tokens[j].nesting
            if depth <= 0:
                break
            j += 1
        blocks.append(tokens[i:j + 1])
        i = j + 1
    return blocks


def _sections(blocks: list[list]) -> Section:
    root = Section(0, "")
    stack = [root]
    for block in blocks:
        first = block[0]
        if first.type == "heading_open":
            level = int(first.tag[1])
            while stack[-1].level >= level:
                stack.pop()
            section = Section(level, block[1].content, heading=block)
            stack[-1].children.append(section)
            stack.append(section)
        else:
            stack[-1].body.append(block)
    return root


def _embed_images(tokens: list, folder: Path) -> None:
    """Replace each image's file name by its bytes as a data URI; an image that cannot be read says so."""
    for token in tokens:
        for child in token.children or ():
            if child.type != "image":
                continue
            src = child.attrGet("src") or ""
            path = (folder / src).resolve()
            kind = IMAGE_TYPES.get(path.suffix.lower())
            inside = path.is_relative_to(folder.resolve())
            if kind and inside and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                child.attrSet("src", f"data:{kind};base64,{data}")
            else:
                # An alt text in place of a broken image: the page never points at a file beside it.
                child.type, child.content = "text", f"[figure not embedded: {src}]"
                child.children = None


def _render(md: MarkdownIt, blocks: list[list]) -> str:
    tokens = [t for block in blocks for t in block]
    text = md.renderer.render(tokens, md.options, {})
    return text.replace("<table>", '<div class="scroll"><table class="sortable">').replace(
        "</table>", "</table></div>")


def _is_reading(block: list) -> bool:
    return block[0].type == "paragraph_open" and block[1].content.startswith(READING_MARK)


def _render_body(md: MarkdownIt, blocks: list[list]) -> str:
    """A section's body; from its reading on, the text stands beside what it reads (table or figure)."""
    start = next((i for i, block in enumerate(blocks) if _is_reading(block)), None)
    if start is None or start == 0:
        return _render(md, blocks)
    return ('<div class="pair"><div class="main">' + _render(md, blocks[:start]) + '</div>'
            '<aside class="reading">' + _render(md, blocks[start:]) + '</aside></div>')


def _render_section(md: MarkdownIt, section: Section) -> str:
    inner = _render_body(md, section.body) + "".join(_render_section(md, c) for c in section.children)
    heading = _render(md, [section.heading]) if section.heading else ""
    if section.level == 2 and section.title.startswith(PROVENANCE_PREFIXES):
        return f"<details><summary>{heading}</summary>{inner}</details>\n"
    return f"<section>{heading}{inner}</section>\n"


def markdown_to_html(text: str, folder: Path) -> str:
    """The report's Markdown as one self-contained HTML page; images are read from `folder`."""
    md = _parser()
    tokens = md.parse(text)
    _embed_images(tokens, Path(folder))
    root = _sections(_blocks(tokens))
    title = root.children[0].title if root.children else "resnext-bench report"
    body = _render_body(md, root.body) + "".join(_render_section(md, s) for s in root.children)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"{body}<script>{SCRIPT}</script>\n</body>\n</html>\n")


def write_html(report_md: Path, out: Path | None = None) -> Path:
    """Write report.html beside `report_md` (or at `out`) and return its path."""
    report_md = Path(report_md)
    try:
        text = report_md.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {report_md} to make its HTML page: {exc}") from None
    out = Path(out) if out is not None else report_md.with_suffix(".html")
    write_text(out, markdown_to_html(text, report_md.parent))
    return out
