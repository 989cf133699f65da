"""Checks the app's Swift against the generated API, on syntax trees.

For every expression whose type it can tell (infer.py), it checks:
- a call of a method of a generated class, protocol, record or enum, of a generated type's
  static method or initialiser, of a generated enum case with values, or of a generated
  top-level function: that it exists, that the argument labels fit one signature (in order,
  defaulted parameters may be left out), that a throwing call is under a `try` (`try?`, `try!`;
  also one at the left end of its chain or binary expression) and an async call under `await`;
- each argument of such a call against the parameter's type (expect.py): a string literal for
  an `Int`, `Bool` or enum parameter, `nil` for a non-optional one, a `CaseStatus` for a
  `Language` and the like are type errors;
- `.case` where a generated enum is expected (an argument, either side of `==`/`!=`, an
  assignment, a `return` or single-expression result, a `??` default, a `switch`/`if case`/
  `guard case` pattern over it, a parameter's default value), and `Type.case` / `catch
  Type.case`: that the case exists;
- a member read from a generated record or class: that it exists;
- every class of ours conforming to a generated protocol (KeyProvider, LogSink, ...): that it
  has each of the protocol's methods with the same argument labels;
- calls of our own functions, methods, initialisers and function-typed variables: when exactly
  one declaration fits the labels, `try` if it throws (not `rethrows`), `await` if it is async,
  and its arguments against its parameter types as above.

Types are learned from: declared types (`let x: T`, parameters, properties of our own types),
`let x = T(...)`, the results of generated and our own methods and functions (for a generic
`call<T>(_ body: (CaseStore) throws -> T)` the type of the closure's single expression),
closure parameters (`$0`, named) where the closure is passed to a parameter of function type
(e.g. the store's `call { $0... }` and a view model's `act { $0... }`) or to `map`/`filter`/...
of an array of known elements, `for x in`, `if let`/`guard let`, `catch let e as T`, `as?`,
`!`, `??`, `try`/`await`, enum case patterns binding associated values.

Not checked (there is no Swift compiler here): expressions whose type it cannot tell (they are
skipped, never guessed), overload resolution by type, generic constraints, the labels of our own
API (memberwise initialisers, protocol extensions), SwiftUI, Foundation, XCTest and CryptoKit
calls, optional chaining rules, access control and concurrency (Sendable, actor isolation).
"""
from .api import Func, Param, read_function, read_param
from .expect import Expectations
from .infer import Env, Inference
from .parse import (base, element, fields, function_params, function_result, is_optional, key, line, named,
                    norm_type, text, walk)

BOUNDARIES = {"statements", "lambda_literal", "function_body", "computed_property", "class_body",
              "source_file", "function_declaration", "init_declaration", "computed_getter", "computed_setter"}
BINARY = {"additive_expression", "multiplicative_expression", "comparison_expression", "equality_expression",
          "conjunction_expression", "disjunction_expression", "nil_coalescing_expression", "infix_expression",
          "range_expression", "as_expression", "check_expression"}
# Members every generated record and class has (Equatable, Hashable, CustomStringConvertible).
UNIVERSAL_MEMBERS = {"self", "hashValue", "hash", "description", "debugDescription"}
# Generic functions whose first two arguments have one type: `XCTAssertEqual(view.status, .draft)`.
SAME_TYPE_ARGS = {"XCTAssertEqual", "XCTAssertNotEqual"}
# Expressions whose first child is the receiver chain a `try`/`await` at its left end covers.
CHAINS = {"navigation_expression", "call_expression", "postfix_expression"}
ARRAY_CLOSURES = {"map", "compactMap", "flatMap", "filter", "first", "contains", "forEach", "allSatisfy",
                  "firstIndex", "lastIndex", "last", "min", "max", "sorted", "drop", "prefix", "partition",
                  "removeAll", "sort"}


class Checker(Inference, Expectations):
    """Walks syntax trees with the scopes of their names, checking as described above."""

    def __init__(self, model):
        self.model = model
        self.passed = 0
        self.failures = []
        self.closure_params = {}  # key(lambda) -> [type or None]
        self.rel = ""
        self.verbose = False
        self.passes = []

    # ---- results --------------------------------------------------------------------------

    def ok(self, node=None, what=""):
        self.passed += 1
        if self.verbose and node is not None:
            self.passes.append(f"{self.rel}:{line(node)}: {what}")

    def fail(self, node, what):
        self.failures.append(f"{self.rel}:{line(node)}: {what}")

    # ---- entry ----------------------------------------------------------------------------

    def check_file(self, rel, tree):
        self.rel = rel
        self.visit(tree.root_node, Env())

    def gen_type(self, t):
        """The generated TypeInfo of type string `t` (optionality ignored), else None."""
        return self.model.generated(base(t)) if t else None

    # ---- walking --------------------------------------------------------------------------

    def visit_children(self, node, env):
        for c in node.children:
            if c.is_named:
                self.visit(c, env)

    def visit(self, node, env):
        handler = getattr(self, "v_" + node.type, None)
        if handler is not None:
            handler(node, env)
        else:
            self.visit_children(node, env)

    def v_class_declaration(self, node, env):
        name = text(node.child_by_field_name("name")).split("<")[0]
        inner = Env(env, self_type=name)
        inner.is_type = True
        self.check_conformance(node, name)
        body = node.child_by_field_name("body")
        if body is not None:
            self.visit_children(body, inner)

    v_protocol_declaration = v_class_declaration

    def v_function_declaration(self, node, env):
        if not env.is_type and env.parent is not None:
            env.vars[text(node.child_by_field_name("name"))] = None  # a local function shadows
        inner = Env(env)
        children = fields(node)
        for i, (f, c) in enumerate(children):
            if c.type == "parameter":
                p = read_param(c, False)
                if p.name:
                    inner.vars[p.name] = p.type or None
                # A default value of a generated enum type: `maxLevel: LogLevel = .info`.
                for f2, d in children[i + 1:i + 3]:
                    if f2 == "default_value":
                        self.expect(d, p.type, inner, f"the default of `{p.name}`")
                        break
        inner.result = None
        if node.type == "function_declaration":
            inner.result = read_function(node).result
        body = node.child_by_field_name("body")
        if body is not None:
            self.visit(body, inner)
            self._implicit_return(body, inner)

    v_init_declaration = v_function_declaration

    def _implicit_return(self, body, env):
        """The single expression of a body with a result type is what it returns."""
        stmts = next((c for c in named(body) if c.type == "statements"), None) if body.type != "statements" else body
        if env.result and env.result != "Void" and stmts is not None and len(named(stmts)) == 1:
            only = named(stmts)[0]
            if only.type not in ("control_transfer_statement", "if_statement", "switch_statement", "guard_statement",
                                 "for_statement", "do_statement", "assignment", "property_declaration"):
                self.expect(only, env.result, env, "the result")

    def v_control_transfer_statement(self, node, env):
        self.visit_children(node, env)
        result = node.child_by_field_name("result")
        if result is not None and text(node).startswith("return") and env.result:
            self.expect(result, env.result, env, "the result")

    def v_nil_coalescing_expression(self, node, env):
        self.visit_children(node, env)
        value, if_nil = node.child_by_field_name("value"), node.child_by_field_name("if_nil")
        if value is not None and if_nil is not None and self._implicit_member(if_nil) is not None:
            t = self.infer(value, env)
            if t:
                self.expect(if_nil, base(t), env, f"the default of `{text(value)}`")

    def v_lambda_literal(self, node, env):
        inner = Env(env)
        inner.result = None
        types = self.closure_params.get(key(node), [])
        names = []
        ftype = node.child_by_field_name("type")
        if ftype is not None:
            for p in ftype.children:
                if p.type == "lambda_function_type_parameters":
                    for lp in named(p):
                        n = lp.child_by_field_name("name")
                        ann = [c for f, c in fields(lp) if f == "name" and c.type != "simple_identifier"]
                        names.append((text(n) if n is not None else "_", norm_type(text(ann[0])) if ann else None))
        for i, (n, declared) in enumerate(names):
            inner.vars[n] = declared or (types[i] if i < len(types) else None)
        for i, t in enumerate(types):
            inner.vars[f"${i}"] = t
        for c in named(node):
            if c.type != "lambda_function_type":
                self.visit(c, inner)

    def v_property_declaration(self, node, env):
        value = node.child_by_field_name("value")
        ann = next((c for c in node.children if c.type == "type_annotation"), None)
        declared = norm_type(text(ann)[1:]) if ann is not None else None
        if value is not None:
            self.visit(value, env)
            if declared:
                self.expect(value, declared, env, "the value")
        t = declared or (self.infer(value, env) if value is not None else None)
        for f, c in fields(node):
            if f == "name" and c.type == "pattern":
                b = c.child_by_field_name("bound_identifier")
                if b is not None:
                    env.vars[text(b)] = t
                else:
                    for sub in named(c):  # a tuple pattern: names, types unknown
                        if sub.type == "pattern" and sub.named_child_count:
                            env.vars[text(sub)] = None
            elif c.type == "computed_property" or f == "computed_value":
                inner = Env(env)
                inner.result = declared
                self.visit(c, inner)
                self._implicit_return(c, inner)

    def _conditions(self, node, env):
        """The comma-separated conditions of an `if`/`guard`, in order: `let x = e` and `let x`
        bind `x`; `case .c(let v) = e` / `case T.c = e` check the case and bind `v`; anything
        else is visited. The grammar gives each condition's parts flat, as `condition` fields."""
        segment = []
        for f, c in fields(node) + [(None, None)]:
            if f in ("condition", "bound_identifier"):
                segment.append((f, c))
                continue
            if segment:
                self._condition(segment, env)
            segment = []

    def _condition(self, parts, env):
        kinds = [c.type for _, c in parts]
        eq = kinds.index("=") if "=" in kinds else None
        if kinds[0] == "case" and eq is not None:
            subject = next((c for _, c in parts[eq + 1:] if c.is_named), None)
            if subject is not None:
                self.visit(subject, env)
            t = self.infer(subject, env) if subject is not None else None
            names = [c for _, c in parts[1:eq] if c.is_named]
            qualified = next((c for c in names if c.type == "user_type"), None)
            if qualified is not None:
                t = text(qualified)
            case = next((c for c in names if c.type == "simple_identifier"), None)
            if case is not None:
                info = self.check_case(case, t, text(case))
                self._bind_assoc(info, text(case), [c for c in names if c.type == "pattern"], env)
            return
        if kinds[0] == "value_binding_pattern" and len(parts) > 1 and parts[1][0] == "bound_identifier":
            name = text(parts[1][1])
            value = next((c for _, c in parts[eq + 1:] if c.is_named), None) if eq is not None else None
            if value is not None:
                self.visit(value, env)
                t = self.infer(value, env)
            else:  # `if let x`: the optional `x` unwrapped
                t = env.get(name)
            env.vars[name] = base(t) if t else None
            return
        for _, c in parts:
            if c.is_named:
                self.visit(c, env)

    def v_if_statement(self, node, env):
        inner = Env(env)
        self._conditions(node, inner)
        first = True
        for c in node.children:
            if c.type == "statements":
                self.visit(c, Env(inner) if first else Env(env))
                first = False
            elif c.type == "if_statement":
                self.visit(c, env)

    def v_while_statement(self, node, env):
        inner = Env(env)
        self._conditions(node, inner)
        for c in node.children:
            if c.type == "statements":
                self.visit(c, inner)

    def v_guard_statement(self, node, env):
        self._conditions(node, env)
        for c in node.children:
            if c.type == "statements":
                self.visit(c, Env(env))

    def v_for_statement(self, node, env):
        inner = Env(env)
        coll = node.child_by_field_name("collection")
        if coll is not None:
            self.visit(coll, env)
        item = node.child_by_field_name("item")
        if item is not None:
            b = item.child_by_field_name("bound_identifier")
            t = self.infer(coll, env) if coll is not None else None
            if b is not None:
                inner.vars[text(b)] = element(t) if t else None
            elif text(item).startswith("case"):  # `for case let .field(f) in items`
                self._switch_pattern_node(item, element(t) if t else None, inner)
            else:
                self._bind_unknown(item, inner)
        for c in node.children:
            if c.type in ("statements", "where_clause"):
                self.visit(c, inner)

    def v_catch_block(self, node, env):
        inner = Env(env)
        pattern = node.child_by_field_name("error")
        inner.vars["error"] = None
        if pattern is not None:
            ut = next((c for c in named(pattern) if c.type == "user_type"), None)
            case = next((c for c in named(pattern) if c.type == "simple_identifier"), None)
            if ut is not None and case is not None:  # catch WardcrfError.NoStore
                self.check_case(case, text(ut), text(case))
            elif ut is not None:  # catch let e as T
                sub = next((c for c in named(pattern) if c.type == "pattern"), None)
                b = sub.child_by_field_name("bound_identifier") if sub is not None else None
                if b is not None:
                    inner.vars[text(b)] = text(ut)
        for c in node.children:
            if c.type == "statements":
                self.visit(c, inner)

    def v_switch_statement(self, node, env):
        subject = node.child_by_field_name("expr")
        if subject is not None:
            self.visit(subject, env)
        t = self.infer(subject, env) if subject is not None else None
        for entry in named(node):
            if entry.type != "switch_entry":
                continue
            inner = Env(env)
            for c in named(entry):
                if c.type == "switch_pattern":
                    self._switch_pattern(c, t, inner)
                elif c.type == "statements":
                    self.visit(c, inner)
                elif c.type != "where_keyword":
                    self.visit(c, inner)

    def _switch_pattern(self, node, t, env):
        pattern = next((c for c in named(node) if c.type == "pattern"), None)
        if pattern is not None:
            self._switch_pattern_node(pattern, t, env)

    def _switch_pattern_node(self, pattern, t, env):
        kids = named(pattern)
        qualified = next((c for c in kids if c.type == "user_type"), None)
        case = next((c for c in kids if c.type == "simple_identifier"), None)
        starts_dot = text(pattern).removeprefix("case").lstrip().removeprefix("let ").removeprefix("var ") \
            .lstrip().startswith(".")
        if case is None or not (starts_dot or qualified is not None):
            return
        if text(case) in ("some", "none") and is_optional(t) and qualified is None:
            inner = next((c for c in kids if c.type == "pattern"), None)  # `.some(.draft)`
            if inner is not None and text(inner).startswith("."):
                self._switch_pattern_node(inner, base(t), env)
            return
        info = self.check_case(case, text(qualified) if qualified is not None else t, text(case))
        self._bind_assoc(info, text(case), [c for c in kids if c.type == "pattern"], env)

    def _bind_assoc(self, info, case, patterns, env):
        assoc = info.cases.get(case, []) if info is not None else []
        for i, p in enumerate(patterns):
            name = text(p).replace("let ", "").replace("var ", "").strip()
            optional = name.endswith("?")
            name = name.rstrip("?")
            if name.isidentifier():
                t = assoc[i][1] if i < len(assoc) else None
                env.vars[name] = (base(t) if optional else t) if t else None
            else:
                self._bind_unknown(p, env)

    @staticmethod
    def _bind_unknown(pattern, env):
        """Binds every name of a pattern (`(i, s)`, `.x(let a, _)`) with an unknown type."""
        for n in walk(pattern):
            if n.type == "simple_identifier":
                env.vars[text(n)] = None

    def v_assignment(self, node, env):
        target = node.child_by_field_name("target")
        result = node.child_by_field_name("result")
        self.visit_children(node, env)
        if target is not None and result is not None and text(target) != "_":
            inner = named(target)[0] if named(target) else target
            t = self.infer(inner, env)
            if t:
                self.expect(result, t, env, f"the value assigned to `{text(inner)}`")

    def v_equality_expression(self, node, env):
        self.visit_children(node, env)
        lhs, rhs = node.child_by_field_name("lhs"), node.child_by_field_name("rhs")
        if lhs is None or rhs is None:
            return
        for a, b in ((lhs, rhs), (rhs, lhs)):
            if self._implicit_member(a) is not None:
                t = self.infer(b, env)
                if t and self.gen_type(t) is not None and self.gen_type(t).kind == "enum":
                    self.check_case(a, t, self._implicit_member(a))

    def v_navigation_expression(self, node, env):
        self.visit_children(node, env)
        parent = node.parent
        if parent is not None and parent.type == "call_expression" and parent.child(0) == node:
            return  # checked as a call
        target = node.child_by_field_name("target")
        suffix = node.child_by_field_name("suffix")
        member = suffix.child_by_field_name("suffix") if suffix is not None else None
        if target is None or member is None or member.type != "simple_identifier":
            return
        name = text(member)
        if target.type in ("simple_identifier", "user_type") and self.model.generated(text(target)) is not None \
                and not self._is_var(text(target), env):
            info = self.model.generated(text(target))
            if info.kind == "enum":
                self.check_case(member, text(target), name)
            return
        t = self.infer(target, env)
        info = self.gen_type(t)
        if info is None or info.kind not in ("struct", "class", "protocol") or element(t):
            return
        if self.model.has_member(base(t), name) or name in UNIVERSAL_MEMBERS:
            self.ok(member, f"member `{base(t)}.{name}`")
        else:
            self.fail(member, f"`{base(t)}` has no member `{name}` in the generated API")

    def _is_var(self, name, env):
        return env.has(name)

    # ---- calls ----------------------------------------------------------------------------

    def v_call_expression(self, node, env):
        callee = node.child(0)
        suffix = next((c for c in node.children if c.type == "call_suffix"), None)
        if suffix is None:
            self.visit_children(node, env)
            return
        args, closures = self._args(suffix)
        is_subscript = text(suffix).startswith("[")
        fns, what, recv_type = ([], None, None) if is_subscript else self.resolve(callee, env)
        if fns:
            self._closure_types(fns, args, closures)
        elif recv_type and element(recv_type) and callee.type == "navigation_expression":
            name = self._member_name(callee)
            if name in ARRAY_CLOSURES:
                el = element(recv_type)
                for lam in closures + [a[1] for a in args if a[1].type == "lambda_literal"]:
                    self.closure_params[key(lam)] = [el, el] if name in ("sorted", "sort", "min", "max") else [el]
        if callee.type == "navigation_expression":
            self.visit(callee.child_by_field_name("target"), env)
        elif callee.type != "simple_identifier":
            self.visit(callee, env)
        self.visit(suffix, env)
        if callee.type == "simple_identifier" and text(callee) in SAME_TYPE_ARGS and len(args) >= 2 \
                and not env.has(text(callee)):
            for (_, a), (_, b) in ((args[0], args[1]), (args[1], args[0])):
                if self._implicit_member(a) is not None or self._implicit_call(a) is not None \
                        or a.type == "array_literal":
                    t = self.infer(b, env)
                    if t:
                        self.expect(a, t, env, f"an argument of {text(callee)}")
        if what is not None and not fns:
            self.fail(node, f"{what}: the generated type has no public initialiser")
        elif what is not None and fns and any(f is None for f in fns):
            self.fail(node, f"{what} is not in the generated API")
        elif what is not None and fns:
            self.check_call(node, what, fns, args, closures, env)
        elif fns and all(f is not None for f in fns):
            self.check_own_call(node, fns, args, closures, env)
        elif callee.type == "simple_identifier" and env.get(text(callee)) and function_result(env.get(text(callee))):
            self.check_closure_call(node, text(callee), env.get(text(callee)))

    @staticmethod
    def _member_name(nav):
        s = nav.child_by_field_name("suffix")
        m = s.child_by_field_name("suffix") if s is not None else None
        return text(m) if m is not None else None

    def _args(self, suffix):
        """([(label or "_", value node)], [trailing closures]) of a call suffix."""
        args, closures = [], []
        for c in named(suffix):
            if c.type == "value_arguments":
                for a in named(c):
                    if a.type != "value_argument":
                        continue
                    label = a.child_by_field_name("name")
                    value = a.child_by_field_name("value")
                    if value is None:
                        value = named(a)[-1] if named(a) else a
                    args.append((text(label).strip() if label is not None else "_", value))
            elif c.type == "lambda_literal":
                closures.append(c)
        return args, closures

    def resolve(self, callee, env):
        """([Func], description of what is called, or None when it is not generated API, the
        receiver's type) for the callee of a call."""
        m = self.model
        if callee.type == "simple_identifier":
            name = text(callee)
            if env.has(name):
                return [], None, None
            self_t = env.self_type
            if self_t and (m.methods(self_t, name) or m.methods(self_t, name, static=True)):
                return m.methods(self_t, name) + m.methods(self_t, name, static=True), None, None
            if name in m.app_functions:
                return m.app_functions[name], None, None
            if self_t and m.member(self_t, name):
                return [], None, None  # a closure-typed property of ours
            info = m.types.get(name)
            if info is not None:
                return info.inits, (f"`{name}` initialiser" if info.generated else None), None
            if name in m.functions:
                return m.functions[name], f"`{name}`", None
            return [], None, None
        if callee.type != "navigation_expression":
            return [], None, None
        target = callee.child_by_field_name("target")
        name = self._member_name(callee)
        if name is None:
            return [], None, None
        tname = text(target)
        if target.type == "simple_identifier" and tname == "WardCRF" and not env.has(tname):
            return m.functions.get(name, [None]), f"`WardCRF.{name}`", None
        if target.type in ("simple_identifier", "user_type") and tname in m.types and not env.has(tname):
            info = m.types[tname]
            if name == "init":
                return info.inits, (f"`{tname}` initialiser" if info.generated else None), None
            if info.generated and info.kind == "enum" and name in info.cases:
                return [self._case_func(info, name)], f"case `{tname}.{name}`", None
            fns = m.methods(tname, name, static=True)
            if info.generated:
                return (fns or [None]), f"`{tname}.{name}`", None
            return fns, None, None
        t = self.infer(target, env)
        if not t:
            return [], None, None
        if name == "init" and target.type == "self_expression" and base(t) in m.types:
            return m.types[base(t)].inits, None, None
        info = self.gen_type(t)
        fns = m.methods(base(t), name)
        if info is not None and not element(t):
            if not fns and info.kind == "enum" and name in info.cases:
                return [], None, t
            return (fns or [None]), f"`{base(t)}.{name}`", t
        return fns, None, t

    @staticmethod
    def _case_func(info, name):
        """An enum case with associated values, as the function that makes it."""
        params = [Param(label=label or "_", name=label or "", type=t, has_default=False)
                  for label, t in info.cases[name]]
        return Func(name=name, params=params, result=info.name)

    def _fit(self, fn, labels):
        """The parameter index of each argument when `labels` fit `fn`, else None."""
        out, i = [], 0
        params = fn.params
        for label in labels:
            while i < len(params) and params[i].label != label:
                if not params[i].has_default:
                    return None
                i += 1
            if i == len(params):
                return None
            out.append(i)
            i += 1
        if any(not p.has_default for p in params[i:]):
            return None
        return out

    def _closure_types(self, fns, args, closures):
        fns = [f for f in fns if f is not None]
        for fn in fns:
            labels = [a[0] for a in args]
            fitted = self._fit(fn, labels + ["\0"] * 0)
            if fitted is None and closures:
                # Trailing closures fill the remaining function-typed parameters.
                fitted = self._fit_with_trailing(fn, labels, len(closures))
            if fitted is None:
                continue
            for (label, value), idx in zip(args, fitted):
                if value.type == "lambda_literal":
                    self.closure_params[key(value)] = function_params(fn.params[idx].type) or []
            rest = [p for p in fn.params if function_params(p.type) is not None][-len(closures):] if closures else []
            for lam, p in zip(closures, rest):
                self.closure_params[key(lam)] = function_params(p.type) or []
            return

    def _fit_with_trailing(self, fn, labels, n):
        trailing = [i for i, p in enumerate(fn.params) if function_params(p.type) is not None][-n:]
        if len(trailing) < n:
            return None
        head = type(fn)(fn.name, fn.params[:trailing[0]], fn.throws, fn.is_async, fn.result)
        return self._fit(head, labels)

    def check_call(self, node, what, fns, args, closures, env):
        labels = [a[0] for a in args]
        fitting = []
        for fn in fns:
            fitted = self._fit(fn, labels) if not closures else (self._fit_with_trailing(fn, labels, len(closures))
                                                                 or self._fit(fn, labels))
            if fitted is not None:
                fitting.append((fn, fitted))
        if not fitting:
            want = " | ".join(dict.fromkeys(f.signature() for f in fns))
            used = "(" + "".join(label + ":" for label in labels) + ")"
            self.fail(node, f"{what}{used} does not match the generated {want}")
            return
        self.ok(node, f"{what} labels")
        fn, fitted = fitting[0]
        if fn.throws:
            if self.covered(node, "try_expression"):
                self.ok(node, f"{what} try")
            else:
                self.fail(node, f"{what} throws: the call needs `try`")
        if fn.is_async:
            if self.covered(node, "await_expression"):
                self.ok(node, f"{what} await")
            else:
                self.fail(node, f"{what} is async: the call needs `await`")
        for (label, value), idx in zip(args, fitted):
            p = fn.params[idx]
            self.expect(value, p.type, env, f"argument `{label}` of {what}")

    def check_own_call(self, node, fns, args, closures, env):
        """A call of our own function, method or initialiser: when exactly one of its
        declarations fits the labels, a throwing one needs `try` and an async one `await`
        (labels and types of our own API are not checked: the compiler's overloads, default
        memberwise initialisers and protocol extensions are beyond this model)."""
        labels = [a[0] for a in args]
        fitting = [fn for fn in fns if (self._fit_with_trailing(fn, labels, len(closures)) if closures else None)
                   is not None or self._fit(fn, labels) is not None]
        if not fitting or len({(f.throws, f.is_async) for f in fitting}) != 1:
            return  # ambiguous: the compiler would pick by type
        fn = fitting[0]
        what = f"`{fn.name}`" if fn.name != "init" else "the initialiser"
        if fn.throws:
            if self.covered(node, "try_expression"):
                self.ok(node, f"{what} try")
            else:
                self.fail(node, f"{what} (ours) throws: the call needs `try`")
        if fn.is_async:
            if self.covered(node, "await_expression"):
                self.ok(node, f"{what} await")
            else:
                self.fail(node, f"{what} (ours) is async: the call needs `await`")
        fitted = self._fit_with_trailing(fn, labels, len(closures)) if closures else None
        if fitted is None:
            fitted = self._fit(fn, labels)
        for (label, value), idx in zip(args, fitted or []):
            self.expect(value, fn.params[idx].type, env, f"argument `{label}` of {what}")

    def check_closure_call(self, node, name, ftype):
        """A call of a closure of declared function type: `try` if it throws, `await` if async."""
        effects = base(ftype).rsplit("->", 1)[0]
        effects = effects[effects.rfind(")") + 1:].split()
        for word, kind, needs in (("throws", "try_expression", "try"), ("async", "await_expression", "await")):
            if word not in effects:
                continue
            if self.covered(node, kind):
                self.ok(node, f"closure `{name}` {needs}")
            else:
                self.fail(node, f"`{name}` is a closure that {'throws' if word == 'throws' else 'is async'}: "
                                f"the call needs `{needs}`")

    def covered(self, node, kind):
        """Whether `node` is inside a `try`/`await` of its statement: an enclosing one, or one
        at the left end of an enclosing chain (`try a.b().c()`, `try x() + y()`)."""
        if self._starts_with(node, kind):
            return True
        child, parent = node, node.parent
        while parent is not None and parent.type not in BOUNDARIES:
            if parent.type == kind:
                return True
            if parent.type == "property_declaration" and text(parent).startswith("async"):
                return True  # `async let x = f()`: the effects are marked where `x` is awaited
            if parent.type in CHAINS or parent.type in BINARY or parent.type == "assignment":
                first = named(parent)[0] if named(parent) else None
                if first is not None and first.start_byte < child.start_byte and self._starts_with(first, kind):
                    return True
            child, parent = parent, parent.parent
        return False

    @staticmethod
    def _starts_with(node, kind):
        """Whether the leftmost operand of `node` (down its chains) is a `kind` expression."""
        while node is not None:
            if node.type == kind:
                return True
            if node.type not in CHAINS and node.type not in BINARY and node.type not in (
                    "try_expression", "await_expression"):
                return False
            node = named(node)[0] if named(node) else None
        return False
