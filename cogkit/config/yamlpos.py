"""Load YAML while remembering where every key and value sits in the file.

Error messages must point at the exact line and column of the offending key, which plain
`yaml.safe_load` forgets. We compose the node tree ourselves (PyYAML's composer keeps marks) and
construct the Python values from it, recording a path -> position map on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from cogkit.errors import ConfigError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """Where a key (for mappings) or a value (for sequence items) starts, 1-based."""

    line: int
    column: int
    raw: str | None = None  # the scalar's source text, e.g. "3.10" even though YAML reads 3.1


@dataclass
class LoadedYaml:
    data: Any
    keys: dict[Path, Position]  # position of the key naming each mapping entry
    values: dict[Path, Position]  # position of each value (scalars carry their raw text)

    def where(self, path: Path) -> Position | None:
        """Best position for a path: the key if it has one, else the value, else the nearest parent."""
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            if sub in self.keys:
                return self.keys[sub]
            if sub in self.values:
                return self.values[sub]
        return None


def _position(node: yaml.Node) -> Position:
    raw = node.value if isinstance(node, yaml.ScalarNode) else None
    return Position(node.start_mark.line + 1, node.start_mark.column + 1, raw)


def load_yaml(text: str, filename: str) -> LoadedYaml:
    """Parse text, raising ConfigError (with line and column) on syntax errors or duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml(None, {}, {})
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}: " if mark else f"{filename}: "
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{where}{filename} is not valid YAML: {problem}",
            "check the indentation and quoting around that spot",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename} is not valid YAML: {exc}", "check the file's syntax") from None
    finally:
        loader.dispose()
    loaded = LoadedYaml(data, {}, {})
    _walk(node, (), loaded, filename)
    return loaded


def _walk(node: yaml.Node, path: Path, out: LoadedYaml, filename: str) -> None:
    out.values[path] = _position(node)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            pos = _position(key_node)
            if key in seen:
                first = seen[key]
                raise ConfigError(
                    f"{filename}:{pos.line}:{pos.column}: key '{key}' appears twice "
                    f"(first at line {first.line})",
                    "keep one of them; YAML would silently use only the last",
                )
            seen[key] = pos
            out.keys[path + (key,)] = pos
            _walk(value_node, path + (key,), out, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), out, filename)
