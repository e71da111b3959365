"""The strict YAML of config files: the safe loader, refusing duplicate keys, deep nesting, alias bombs and
integers YAML 1.1 reads otherwise than they look (octal ``0301``, base-60 ``1:30``), and ``${...}``
interpolations anywhere (files, overrides, and configs read back from checkpoints and exports)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from unigen.errors import UserError, first_line

#: config files larger than this are refused before parsing (a config is a few hundred bytes)
MAX_CONFIG_BYTES = 1 << 20


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line with where it is: ``expected ',' or '}', but got '<stream end>' (line 2, column
    1; while parsing a flow mapping that starts at line 1, column 7)``."""
    problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
    if not problem or mark is None:
        return first_line(e)
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context, start = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and start is not None:
        where += f"; {context} that starts at line {start.line + 1}, column {start.column + 1}"
    return f"{problem} ({where})"


#: YAML 1.1 integers that do not read as they look: a leading zero is octal (0301 -> 193), colons are base 60
#: (1:30 -> 90). Refused in files and overrides; hexadecimal (0x1F) and binary (0b101) say what they are.
_MISREAD_INT = re.compile(r"[-+]?(0[0-7_]+|[1-9][0-9_]*(:[0-5]?[0-9])+)")


def refuse_misread_int(text: str, where: str) -> None:
    if _MISREAD_INT.fullmatch(text.strip()):
        value = yaml.safe_load(text)
        plain = text.strip().lstrip("+").replace("_", "")
        fix = f"write {int(plain)} for the number" if ":" not in plain else "write the number in base 10"
        raise UserError(f"{where}{text.strip()} reads as {value} in YAML ({'base 60' if ':' in plain else 'octal'}); "
                        f"{fix}, or quote it ('{text.strip()}') for a name")


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys, deep nesting, alias expansion beyond a small size, and integers
    that YAML 1.1 reads otherwise than they look (:data:`_MISREAD_INT`)."""

    MAX_DEPTH, MAX_NODES = 32, 10_000

    def construct_yaml_int(self, node):
        refuse_misread_int(node.value, f"line {node.start_mark.line + 1}: ")
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise UserError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1}); "
                                f"keep one of them")
            seen.add(key)
        return super().construct_mapping(node, deep)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, root) -> None:
        """Count the nodes of the tree with aliases expanded (an alias bomb is tiny as text, huge as data)."""
        total, stack = 0, [(root, 1)]
        while stack:
            node, depth = stack.pop()
            total += 1
            if depth > self.MAX_DEPTH:
                raise UserError(f"nesting deeper than {self.MAX_DEPTH} levels; a config is a few flat sections")
            if total > self.MAX_NODES:
                raise UserError(f"more than {self.MAX_NODES} values once its aliases are expanded; "
                                f"a config is a few flat sections")
            if isinstance(node.value, list):
                for child in node.value:
                    for n in (child if isinstance(child, tuple) else (child,)):
                        stack.append((n, depth + 1))


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def refuse_interpolation(value, where: str) -> None:
    """OmegaConf would resolve ``${...}`` (other keys, environment variables): refuse it, naming the key."""
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_interpolation(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            refuse_interpolation(v, f"{where}[{i}]")
    elif isinstance(value, str) and "${" in value:
        raise UserError(f"{where}={value!r}: interpolations (${{...}}) are not supported; write the value itself")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML file with the safe loader; errors name the file.

    Refused in one line: a missing file, a directory, more than 1 MiB, bytes that are not UTF-8 text
    (or hold NUL), invalid YAML, duplicate keys, nesting deeper than 32 levels, more than 10,000 values
    with aliases expanded, and ``${...}`` interpolations.
    """
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise UserError(f"config file {p} {what}; pass the path of a YAML file (see experiments/configs/)")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(f"config file {p} is {p.stat().st_size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte limit; "
                        f"a config is a few flat sections")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        raise UserError(f"config file {p} is not UTF-8 text (binary data); pass a YAML file")
    try:
        data = yaml.load(text, Loader=_StrictLoader) or {}
    except UserError as e:
        raise UserError(f"config file {p}: {e}") from None
    except yaml.YAMLError as e:
        raise UserError(f"config file {p} is not valid YAML: {_yaml_problem(e)}") from None
    except RecursionError:
        raise UserError(f"config file {p} nests too deeply; a config is a few flat sections") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping of sections (data, model, strategy, train)")
    refuse_interpolation(data, "")
    return data
