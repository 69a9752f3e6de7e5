"""The one strict YAML reader: every YAML file the suite reads (ablations, cluster profiles, a run's
config.yaml) and every `--set KEY=VALUE` value goes through it.

It refuses, as one `UserError` line naming the file (and the line where YAML knows it), what no
experiment file holds but a damaged or hostile one does: bytes that are not UTF-8, a file over
16 MiB or that is not a regular file, nesting deeper than 32, aliases that expand past 100,000
values (a "billion laughs"), a key given twice in one mapping, .inf / .nan, and integers beyond
2**53 - 1 (past it a float, a JSON reader or a CSV column no longer holds the value exactly).
Depth and alias expansion are measured on libyaml's event stream, which is iterative, before
anything recursive (the composer, the constructor, deepcopy) walks the document.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from ..errors import UserError

MAX_BYTES = 16 * 2**20
MAX_DEPTH = 32
MAX_VALUES = 100_000  # after alias expansion; the largest ablation in ablations/ holds a few hundred
MAX_INT = 2**53 - 1

try:  # libyaml: ~10x faster, which matters when thousands of run folders are read
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    CParser = None


class YamlRefused(UserError):
    """A YAML file or value the reader refuses: `why` without the file, for callers that list it."""

    def __init__(self, where: str, why: str):
        self.where, self.why = where, why
        super().__init__(f"{where}: {why}" if where else why)


def _at(mark) -> str:
    return f"line {mark.line + 1}: " if mark is not None else ""


class _StrictConstructor(SafeConstructor):
    """SafeConstructor that refuses repeated keys, non-finite floats and integers past 2**53 - 1."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` then overriding a key of base is what merge keys are for
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a collection as a key: SafeConstructor refuses it as unhashable
                first = seen.setdefault((key_node.tag, key_node.value), key_node.start_mark)
                if first is not key_node.start_mark:
                    raise ConstructorError(None, None, f"key {key_node.value!r} is given twice (lines {first.line + 1} and "
                                           f"{key_node.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if len(text) > 40:  # int() of a 10,000-digit literal is slow, and no count has 40 digits
            raise ConstructorError(None, None, f"integer of {len(text)} characters is beyond 2**53 - 1",
                                   node.start_mark)
        value = super().construct_yaml_int(node)
        if abs(value) > MAX_INT:
            raise ConstructorError(None, None, f"integer {value} is beyond 2**53 - 1", node.start_mark)
        return value

    def construct_yaml_float(self, node):
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise ConstructorError(None, None, f"expected a finite number, got {self.construct_scalar(node)}",
                                   node.start_mark)
        return value


_StrictConstructor.add_constructor("tag:yaml.org,2002:int", _StrictConstructor.construct_yaml_int)
_StrictConstructor.add_constructor("tag:yaml.org,2002:float", _StrictConstructor.construct_yaml_float)
_StrictConstructor.add_constructor("tag:yaml.org,2002:map", _StrictConstructor.construct_yaml_map)


if CParser is not None:
    class _StrictLoader(CParser, _StrictConstructor, Resolver):
        def __init__(self, stream):
            CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _StrictLoader(Reader, Scanner, Parser, Composer, _StrictConstructor, Resolver):  # type: ignore[no-redef]
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            _StrictConstructor.__init__(self)
            Resolver.__init__(self)


def _check_shape(text: str) -> None:
    """Refuse nesting past MAX_DEPTH and alias expansion past MAX_VALUES, from the event stream alone."""
    depth, expanded = 0, 0
    starts: list[tuple[int, Any]] = []  # (expanded at the collection's start, its anchor)
    sizes: dict[str, int] = {}  # an anchor's node, counted with its aliases expanded
    for event in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConstructorError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            starts.append((expanded, event.anchor))
            expanded += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            start, anchor = starts.pop()
            if anchor is not None:
                sizes[anchor] = expanded - start
        elif isinstance(event, yaml.ScalarEvent):
            expanded += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            expanded += sizes.get(event.anchor, 1)
        if expanded > MAX_VALUES:
            raise ConstructorError(None, None, f"aliases expand to more than {MAX_VALUES:,} values",
                                   event.start_mark)


def parse_yaml(text: str, where: str) -> Any:
    """The value a YAML text holds, strictly (see the module's docstring); `where` names it in errors."""
    try:
        _check_shape(text)
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as e:
        problem = " ".join(str(e.problem or e.context or "not valid YAML").split())
        valid = "" if isinstance(e, ConstructorError) and e.problem else "not valid YAML: "
        if "maximum nesting depth" in problem:  # libyaml's own limit (1,000), met when it scans ahead
            problem, valid = f"nested deeper than {MAX_DEPTH} levels", ""
        raise YamlRefused(where, f"{_at(e.problem_mark)}{valid}{problem}") from None
    except yaml.reader.ReaderError as e:  # a control character, a character libyaml refuses
        line = text.count("\n", 0, e.position) + 1
        raise YamlRefused(where, f"line {line}: not valid YAML: character #x{ord(e.character) if isinstance(e.character, str) else e.character:04x} "
                                 "(control characters are not allowed)") from None
    except yaml.YAMLError as e:
        raise YamlRefused(where, f"not valid YAML: {' '.join(str(e).split())[:200]}") from None
    except (UnicodeError, RecursionError, ValueError) as e:  # a lone surrogate from argv; a guard passed
        raise YamlRefused(where, f"not valid YAML ({type(e).__name__})") from None


def read_yaml_text(path: str | Path) -> str:
    """A YAML file's text: a regular file of at most MAX_BYTES of UTF-8, else a one-line YamlRefused."""
    where = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise YamlRefused(where, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise YamlRefused(where, "not a regular file")
        if info.st_size > MAX_BYTES:
            raise YamlRefused(where, f"{info.st_size:,} bytes is over the {MAX_BYTES // 2**20} MiB a YAML file may hold")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise YamlRefused(where, f"cannot read ({e.strerror or type(e).__name__})") from None
    if len(data) > MAX_BYTES:  # it grew since the stat
        raise YamlRefused(where, f"over the {MAX_BYTES // 2**20} MiB a YAML file may hold")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise YamlRefused(where, f"line {line}: not UTF-8 text (byte {e.start}); is it a YAML file?") from None


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file that must hold a mapping at the top level (every file the suite reads does)."""
    data = parse_yaml(read_yaml_text(path), str(path))
    if data is None:
        raise YamlRefused(str(path), "empty file (expected a mapping at the top level)")
    if not isinstance(data, dict):
        raise YamlRefused(str(path), f"expected a mapping at the top level, got a {_kind(data)}")
    return data


def _kind(value) -> str:
    return {list: "list", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)
