"""What a Swift expression is checked against where a value of a known type is expected (an
argument, an assignment, a comparison, a result): enum cases, literals of the wrong kind, values
of another generated type; and our classes against the generated protocols they conform to.
Mixed into the call checker (calls.py)."""
from .api import literal_type
from .parse import base, element, is_optional, named, norm_type, text

NUMERIC = {"Int", "Int8", "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64",
           "Double", "Float", "CGFloat", "TimeInterval"}
BASIC = NUMERIC | {"String", "Bool", "Data"}


class Expectations:
    @staticmethod
    def _implicit_member(node):
        """`x` of an implicit member expression `.x`, else None."""
        if node is not None and node.type == "prefix_expression" and text(node).startswith("."):
            t = node.child_by_field_name("target")
            if t is not None and t.type == "simple_identifier":
                return text(t)
        return None

    def expect(self, value, want, env, what):
        """Checks expression `value` where a value of type `want` is expected."""
        if not want or value is None:
            return
        if value.type == "ternary_expression":
            for branch in ("if_true", "if_false"):
                self.expect(value.child_by_field_name(branch), want, env, what)
            return
        want_base = base(want)
        info = self.model.generated(want_base)
        wanted_generated = info is not None
        member = self._implicit_member(value)
        if member is not None:
            if info is not None and info.kind == "enum":
                self.check_case(value, want_base, member)
            elif want_base in BASIC and member not in ("init", "zero", "max", "min", "infinity", "nan", "now"):
                self.fail(value, f"type error: `.{member}` passed as {what}, which is `{want}`")
            return
        if self._implicit_call(value) is not None and info is not None and info.kind == "enum":
            case = self._implicit_call(value)
            if self.check_case(value, want_base, case) is not None and case in info.cases:
                suffix = next((c for c in value.children if c.type == "call_suffix"), None)
                args, closures = self._args(suffix) if suffix is not None else ([], [])
                self.check_call(value, f"case `{want_base}.{case}`", [self._case_func(info, case)], args, closures, env)
            return
        if value.type == "nil_literal":
            if is_optional(want) or want_base in ("Any",) or not (wanted_generated or want_base in BASIC):
                return
            self.fail(value, f"type error: `nil` passed as {what}, which is not optional (`{want}`)")
            return
        if value.type == "array_literal":
            el = element(want)
            if el is None and (wanted_generated or want_base in BASIC):
                self.fail(value, f"type error: an array passed as {what}, which is `{want}`")
            elif el is not None:
                self.ok(value, f"array for {what}")
                for c in named(value):
                    self.expect(c, el, env, f"an element of {what}")
            return
        lit = literal_type(value)
        if lit is not None:
            if not (wanted_generated or want_base in BASIC or element(want) is not None):
                return
            fits = (lit == want_base or lit == "Int" and want_base in NUMERIC
                    or lit == "Double" and want_base in {"Double", "Float", "CGFloat", "TimeInterval"})
            if fits:
                self.ok(value, f"literal for {what}")
            else:
                kind = {"String": "a string", "Int": "an integer", "Double": "a number", "Bool": "a boolean"}[lit]
                self.fail(value, f"type error: {kind} literal `{text(value)}` passed as {what}, which is `{want}`")
            return
        if value.type in ("lambda_literal",):
            return
        got = self.infer(value, env)
        if not got:
            return
        got_base = base(got)
        got_generated = self.model.generated(got_base) is not None
        if got_base == want_base:
            if got_generated or wanted_generated or element(want):
                self.ok(value, f"`{got}` for {what}")
            return
        if not (got_generated or wanted_generated):
            return
        if (got_generated or got_base in BASIC) and (wanted_generated or want_base in BASIC) \
                and not element(got) and not element(want) and not self.model.conforms(got_base, want_base):
            self.fail(value, f"type error: `{text(value)}` is `{got}`, passed as {what}, which is `{want}`")
        elif element(got) and element(want) and base(element(got)) != base(element(want)) \
                and (self.model.generated(base(element(got))) or self.model.generated(base(element(want)))):
            self.fail(value, f"type error: `{text(value)}` is `{got}`, passed as {what}, which is `{want}`")

    def _implicit_call(self, node):
        """`x` of `.x(...)` (an enum case with associated values), else None."""
        if node is None or node.type != "call_expression" or node.child_count == 0:
            return None
        return self._implicit_member(node.child(0))

    def check_case(self, node, t, name):
        """Checks that `name` is a case of generated enum `t`; returns the enum's TypeInfo."""
        info = self.gen_type(t) if t else None
        if info is None or info.kind != "enum":
            return None
        if name in info.cases:
            self.ok(node, f"case `{base(t)}.{name}`")
        elif self.model.has_member(base(t), name):
            self.ok(node, f"member `{base(t)}.{name}`")  # a property/method of the app's extension (`.isRetryable`)
        else:
            self.fail(node, f"`.{name}` is not a case of the generated enum `{base(t)}`")
        return info

    # ---- conformance ----------------------------------------------------------------------

    def check_conformance(self, node, name):
        for c in node.children:
            if c.type != "inheritance_specifier":
                continue
            proto = self.model.generated(norm_type(text(c)))
            if proto is None or proto.kind != "protocol":
                continue
            mine = self.model.types.get(name)
            for need in proto.protocol_funcs:
                have = mine.methods.get(need.name, []) if mine is not None else []
                want = [p.label for p in need.params]
                if any([p.label for p in h.params] == want for h in have):
                    self.ok(node, f"`{name}` implements `{proto.name}.{need.signature()}`")
                else:
                    self.fail(node, f"`{name}` conforms to the generated `{proto.name}` but has no "
                                    f"`{need.signature()}`")
