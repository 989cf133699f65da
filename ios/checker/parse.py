"""Parsing Swift with tree-sitter's Swift grammar, and small helpers over its syntax trees.

The generated bindings wrap declarations in `#if swift(>=5.8)` / `#if compiler(>=6)` blocks,
which the grammar cannot parse when they split a declaration; `parse` blanks those directive
lines (keeping every line number) before parsing, so both branches stay in the tree.
"""
import re

import tree_sitter_swift
from tree_sitter import Language, Parser

_PARSER = Parser(Language(tree_sitter_swift.language()))
_DIRECTIVE = re.compile(r"(?m)^[ \t]*#(?:if|elseif|else|endif)\b.*$")


def parse(text):
    """The syntax tree of Swift source `text` (conditional-compilation lines blanked)."""
    blanked = _DIRECTIVE.sub(lambda m: " " * len(m.group(0)), text)
    return _PARSER.parse(blanked.encode("utf-8"))


def text(node):
    return node.text.decode("utf-8") if node is not None else ""


def line(node):
    return node.start_point[0] + 1


def key(node):
    return (node.start_byte, node.end_byte, node.type)


def named(node):
    return [c for c in node.children if c.is_named]


def fields(node):
    """(field name or None, child) for every child of `node`, named or not."""
    return [(node.field_name_for_child(i), c) for i, c in enumerate(node.children)]


def walk(node):
    yield node
    for c in node.children:
        yield from walk(c)


def errors(tree):
    """The lines of the tree's syntax errors."""
    return sorted({line(n) for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing})


TYPE_NODES = {
    "user_type", "optional_type", "array_type", "dictionary_type", "tuple_type", "function_type",
    "implicitly_unwrapped_type", "opaque_type", "existential_type", "metatype", "type_modifiers",
}


# ---- types, as normalised strings ----------------------------------------------------------

def norm_type(t):
    """A type's text without attributes, `inout`, `some`/`any`, module prefixes or spaces."""
    t = re.sub(r"@\w+(\([^)]*\))?", " ", t)
    t = re.sub(r"\b(inout|some|any|__owned|borrowing|consuming)\b", " ", t)
    t = re.sub(r"\b(Swift|Foundation)\.", "", t)
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"\s*([\[\]():,?!<>])\s*", r"\1", t).replace("->", " -> ")
    return t


def split_top(s, sep=","):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([<{":
            depth += 1
        elif ch in ")]>}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [p.strip() for p in out]


def is_optional(t):
    return bool(t) and t.endswith(("?", "!"))


def base(t):
    """The type without optionality (`String?` -> `String`)."""
    if not t:
        return t
    while t.endswith(("?", "!")):
        t = t[:-1]
    if t.startswith("(") and t.endswith(")") and len(split_top(t[1:-1])) == 1 and "->" not in t:
        return base(t[1:-1])
    return t


def element(t):
    """The element type of an array or set type, else None."""
    t = base(t)
    if t and t.startswith("[") and t.endswith("]") and ":" not in split_top(t[1:-1], ":")[0] \
            and len(split_top(t[1:-1], ":")) == 1:
        return t[1:-1]
    m = re.fullmatch(r"(?:Set|Array)<(.*)>", t or "")
    return m.group(1) if m else None


def function_params(t):
    """The parameter types of a function type `(A, B) throws -> C`, else None."""
    t = base(t)
    if not t or "->" not in t or not t.startswith("("):
        return None
    depth = 0
    for i, ch in enumerate(t):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            inner = t[1:i]
            params = []
            for p in split_top(inner):
                parts = split_top(p, ":")
                params.append(parts[-1].strip())
            return params
    return None


def function_result(t):
    t = base(t)
    if not t or "->" not in t:
        return None
    return t.rsplit("->", 1)[1].strip()
