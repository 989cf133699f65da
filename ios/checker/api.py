"""A model of Swift declarations, read from syntax trees: the generated bindings' public API
(classes, protocols, records, enums and error enums with their cases, top-level functions) and
the declarations of the app's own Swift (its types, their properties and methods, extensions of
generated types), which the call checker uses to learn the types of expressions.
"""
from dataclasses import dataclass, field

from .parse import TYPE_NODES, fields, named, norm_type, split_top, text

# Generated declarations that are uniffi's machinery, not the API.
_INTERNAL_PREFIXES = ("FfiConverter", "Uniffi", "uniffi", "_", "Rust", "ForeignBytes")


@dataclass
class Param:
    label: str  # the argument label callers write; "_" when unlabeled
    name: str
    type: str
    has_default: bool


@dataclass
class Func:
    name: str
    params: list
    throws: bool = False
    rethrows: bool = False  # throws only what its closure arguments throw
    is_async: bool = False
    result: str = None
    generics: tuple = ()
    is_static: bool = False
    line: int = 0

    def signature(self):
        return f"{self.name}(" + "".join(
            (p.label if p.label else "_") + (":" if not p.has_default else "?:") for p in self.params) + ")"


@dataclass
class TypeInfo:
    name: str
    kind: str  # class, struct, enum, protocol, extension
    generated: bool
    inherits: list = field(default_factory=list)
    properties: dict = field(default_factory=dict)  # name -> type
    methods: dict = field(default_factory=dict)  # name -> [Func]
    statics: dict = field(default_factory=dict)  # name -> [Func]
    inits: list = field(default_factory=list)  # [Func]
    cases: dict = field(default_factory=dict)  # enum case -> [(label or None, type)]
    protocol_funcs: list = field(default_factory=list)  # [Func] a conforming type must have

    @property
    def is_error(self):
        return self.kind == "enum" and any(i in ("Error", "Swift.Error") for i in self.inherits)


@dataclass
class Model:
    types: dict = field(default_factory=dict)  # name -> TypeInfo (generated and app types)
    functions: dict = field(default_factory=dict)  # name -> [Func], generated top-level
    app_functions: dict = field(default_factory=dict)  # name -> [Func], the app's top-level

    def generated(self, name):
        t = self.types.get(name)
        return t if t is not None and t.generated else None

    def member(self, type_name, name):
        """The type of property `name` of `type_name` (generated or the app's extension)."""
        for t in self._chain(type_name):
            if name in t.properties:
                return t.properties[name]
        return None

    def methods(self, type_name, name, static=False):
        out = []
        for t in self._chain(type_name):
            out += (t.statics if static else t.methods).get(name, [])
        return out

    def has_member(self, type_name, name):
        for t in self._chain(type_name):
            if name in t.properties or name in t.methods or name in t.statics or name in t.cases:
                return True
        return False

    def _chain(self, type_name, seen=None):
        """The type and the protocols and app extensions it has members from."""
        seen = seen or set()
        if type_name in seen:
            return []
        seen.add(type_name)
        out = []
        for t in (self.types.get(type_name), self.types.get("extension " + type_name)):
            if t is None:
                continue
            out.append(t)
            for i in t.inherits:
                if i in self.types and self.types[i].kind == "protocol":
                    out += self._chain(i, seen)
        return out

    def conforms(self, type_name, proto):
        if type_name == proto:
            return True
        return any(proto == i or self.conforms(i, proto) for t in self._chain(type_name) for i in t.inherits)


def _is_public(node):
    for c in node.children:
        if c.type == "modifiers":
            return any(text(m) in ("public", "open") for m in c.children if m.type == "visibility_modifier")
    return False


def _is_static(node):
    for c in node.children:
        if c.type == "modifiers":
            return any(text(m) in ("static", "class") for m in c.children if m.type == "property_modifier")
    return False


def read_param(node, default):
    """A Param from a `parameter` node; its type from its text (the grammar misreads some
    attributed function types, e.g. `@escaping @Sendable (CaseStore) throws -> T`)."""
    external = node.child_by_field_name("external_name")
    names = [c for f, c in fields(node) if f == "name" and c.type == "simple_identifier"]
    name = text(names[0]) if names else ""
    parts = split_top(text(node), ":")
    type_text = ":".join(parts[1:]) if len(parts) > 1 else ""
    return Param(label=text(external) if external is not None else name, name=name,
                 type=norm_type(type_text), has_default=default)


def read_function(node):
    params, result, generics = [], None, ()
    throws = is_async = rethrows = False
    children = fields(node)
    for i, (f, c) in enumerate(children):
        if c.type == "parameter":
            default = i + 2 < len(children) and children[i + 2][0] == "default_value" or \
                i + 1 < len(children) and children[i + 1][0] == "default_value"
            params.append(read_param(c, default))
        elif text(c) == "rethrows":
            rethrows = True
        elif c.type == "throws" or text(c) == "throws":
            throws = True
        elif c.type == "async" or text(c) == "async":
            is_async = True
        elif c.type == "type_parameters":
            generics = tuple(text(p.child(0)) for p in named(c) if p.type == "type_parameter" and p.child_count)
        elif f == "name" and c.type in TYPE_NODES:
            result = norm_type(text(c))
    # `default_value` follows its parameter (after the `=` token).
    for idx, (f, c) in enumerate(children):
        if f == "default_value":
            j = idx - 1
            while j >= 0 and children[j][1].type != "parameter":
                j -= 1
            if j >= 0:
                for p in params:
                    if p.name and text(children[j][1]).split(":")[0].split()[-1] == p.name:
                        p.has_default = True
    name_node = node.child_by_field_name("name")
    name = "init" if node.type == "init_declaration" else text(name_node).strip("`")
    return Func(name=name, params=params, throws=throws, rethrows=rethrows, is_async=is_async, result=result,
                generics=generics, is_static=_is_static(node), line=node.start_point[0] + 1)


def _property_names_and_type(node):
    names = []
    for f, c in fields(node):
        if f == "name" and c.type == "pattern":
            b = c.child_by_field_name("bound_identifier")
            if b is not None:
                names.append(text(b))
    ann = next((c for c in node.children if c.type == "type_annotation"), None)
    t = norm_type(text(ann)[1:]) if ann is not None else None
    if t is None:
        value = node.child_by_field_name("value")
        t = literal_type(value)
        if t is None and value is not None and value.type == "call_expression":
            callee = value.child(0)
            if callee.type == "simple_identifier" and text(callee)[:1].isupper():
                t = text(callee)
    return names, t


def literal_type(node):
    if node is None:
        return None
    return {"line_string_literal": "String", "multi_line_string_literal": "String",
            "raw_string_literal": "String", "integer_literal": "Int", "real_literal": "Double",
            "boolean_literal": "Bool"}.get(node.type)


def _keyword(node):
    for c in node.children:
        if not c.is_named and text(c) in ("class", "struct", "enum", "extension", "actor"):
            return text(c)
    return "class"


def read_type(node, generated, model, outer=None):
    kind = "protocol" if node.type == "protocol_declaration" else _keyword(node)
    name_node = node.child_by_field_name("name")
    name = text(name_node).split("<")[0].split(".")[-1]
    # uniffi writes `public` on the line before some enums: a sibling of the declaration.
    public = _is_public(node) or _public_before(node)
    if generated and ((not public and kind != "extension") or name.startswith(_INTERNAL_PREFIXES)):
        return
    key = ("extension " + name) if kind == "extension" and name not in model.types or \
        kind == "extension" and model.types[name].generated != generated else name
    info = model.types.get(key) or TypeInfo(name=name, kind=kind, generated=generated)
    model.types[key] = info
    for c in node.children:
        if c.type == "inheritance_specifier":
            info.inherits.append(norm_type(text(c)).split(".")[-1])
    body = node.child_by_field_name("body")
    if body is None:
        return
    for m in named(body):
        if generated and m.type not in ("enum_entry", "protocol_function_declaration") \
                and kind not in ("protocol", "extension") and not _is_public(m):
            continue
        if m.type in ("function_declaration", "protocol_function_declaration"):
            fn = read_function(m)
            if fn.name.startswith(_INTERNAL_PREFIXES):
                continue
            (info.statics if fn.is_static else info.methods).setdefault(fn.name, []).append(fn)
            if kind == "protocol":
                info.protocol_funcs.append(fn)
        elif m.type == "init_declaration":
            info.inits.append(read_function(m))
        elif m.type == "property_declaration":
            names, t = _property_names_and_type(m)
            for n in names:
                info.properties[n] = t
        elif m.type == "enum_entry":
            params = m.child_by_field_name("data_contents")
            assoc = _assoc(params) if params is not None else []
            for f, c in fields(m):
                if f == "name":
                    info.cases[text(c).strip("`")] = assoc
        elif m.type in ("class_declaration", "protocol_declaration"):
            read_type(m, generated, model, outer=name)


def _public_before(node):
    p = node.prev_sibling
    return p is not None and text(p).strip() == "public"


def _assoc(node):
    """[(label or None, type)] of an enum case's associated values."""
    inner = text(node).strip()[1:-1]
    out = []
    for part in split_top(inner):
        bits = split_top(part, ":")
        out.append((bits[0].strip(), norm_type(bits[1])) if len(bits) == 2 else (None, norm_type(part)))
    return out


def read_declarations(tree, generated, model):
    """Adds the declarations of a parsed file to `model`."""
    for node in named(tree.root_node):
        if node.type in ("class_declaration", "protocol_declaration"):
            read_type(node, generated, model)
        elif node.type == "function_declaration":
            if generated and not _is_public(node):
                continue
            fn = read_function(node)
            if fn.name.startswith(_INTERNAL_PREFIXES):
                continue
            (model.functions if generated else model.app_functions).setdefault(fn.name, []).append(fn)
