"""The types of Swift expressions as far as the model can tell them: the scopes of names
(`Env`) and `Inference.infer`, which gives a normalised type string or None when it cannot tell
(never a guess). Mixed into the call checker (calls.py), whose `resolve` it uses for calls."""
from .api import literal_type
from .parse import base, element, fields, is_optional, key, named, norm_type, text


class Env:
    def __init__(self, parent=None, self_type=None):
        self.parent, self.vars = parent, {}
        self.is_type = False  # the members' scope of a type declaration
        self.result = parent.result if parent is not None else None  # what `return` returns
        self.self_type = self_type if self_type is not None or parent is None else parent.self_type

    def get(self, name):
        e = self
        while e is not None:
            if name in e.vars:
                return e.vars[name]
            e = e.parent
        return None

    def has(self, name):
        e = self
        while e is not None:
            if name in e.vars:
                return True
            e = e.parent
        return False


class Inference:
    def infer(self, node, env):
        """The type of expression `node` as a normalised string, or None when not known."""
        if node is None:
            return None
        t = node.type
        m = self.model
        lit = literal_type(node)
        if lit:
            return lit
        if t == "simple_identifier":
            name = text(node)
            if env.has(name):
                return env.get(name)
            if env.self_type:
                mt = m.member(env.self_type, name)
                if mt:
                    return mt
            return None
        if t == "self_expression":
            return env.self_type
        if t in ("try_expression", "await_expression"):
            return self.infer(node.child_by_field_name("expr"), env)
        if t == "parenthesized_expression" or t == "tuple_expression" and node.named_child_count == 1:
            return self.infer(named(node)[0], env)
        if t == "as_expression":
            ty = node.child_by_field_name("name") or (named(node)[-1] if named(node) else None)
            op = next((c for c in node.children if c.type == "as_operator"), None)
            tt = norm_type(text(ty)) if ty is not None else None
            return (tt + "?") if tt and op is not None and text(op) == "as?" else tt
        if t == "postfix_expression":
            inner = self.infer(node.child_by_field_name("target"), env)
            return base(inner) if inner and text(node).endswith("!") else inner
        if t == "nil_coalescing_expression":
            v = self.infer(node.child_by_field_name("value"), env)
            return base(v) if v else self.infer(node.child_by_field_name("if_nil"), env)
        if t == "navigation_expression":
            target = node.child_by_field_name("target")
            name = self._member_name(node)
            if name is None:
                return None
            if target.type in ("simple_identifier", "user_type") and not env.has(text(target)):
                info = m.types.get(text(target))
                if info is not None:
                    if info.kind == "enum" and name in info.cases:
                        return info.name
                    return info.properties.get(name) if name in info.properties else None
            tt = self.infer(target, env)
            if not tt:
                return None
            return self.member_type(tt, name)
        if t == "call_expression":
            callee = node.child(0)
            suffix = next((c for c in node.children if c.type == "call_suffix"), None)
            if suffix is not None and text(suffix).startswith("["):
                ct = self.infer(callee, env)
                return element(ct) if ct else None
            if callee.type == "navigation_expression":
                name = self._member_name(callee)
                target = callee.child_by_field_name("target")
                rt = None if target is None or (target.type == "simple_identifier" and text(target) in m.types
                                                and not env.has(text(target))) else self.infer(target, env)
                if rt and element(rt) and name in ("filter", "sorted"):
                    return base(rt)
                if rt and element(rt) and name in ("first", "last", "min", "max", "randomElement"):
                    return element(rt) + "?"
            if callee.type == "simple_identifier" and text(callee) in ("XCTUnwrap",) and suffix is not None:
                args, _ = self._args(suffix)
                return base(self.infer(args[0][1], env)) if args and self.infer(args[0][1], env) else None
            fns, _, _ = self.resolve(callee, env)
            fns = [f for f in fns if f is not None]
            if callee.type == "simple_identifier" and text(callee) in m.types and not env.has(text(callee)):
                return text(callee)
            if not fns:
                return None
            fn = fns[0]
            if fn.name == "init" and callee.type == "navigation_expression":
                return text(callee.child_by_field_name("target"))
            r = fn.result
            if r and base(r) in fn.generics and suffix is not None:
                return self._generic_result(suffix, env)
            return r
        return None

    def _generic_result(self, suffix, env):
        """The type of a closure argument's single expression (for `call<T>(_ body: ... -> T)`)."""
        _, closures = self._args(suffix)
        lams = closures or [a[1] for a in self._args(suffix)[0] if a[1].type == "lambda_literal"]
        if not lams:
            return None
        lam = lams[0]
        stmts = next((c for c in named(lam) if c.type == "statements"), None)
        if stmts is None or len(named(stmts)) != 1:
            return None
        inner = Env(env)
        types = self.closure_params.get(key(lam), [])
        for i, ty in enumerate(types):
            inner.vars[f"${i}"] = ty
        ftype = lam.child_by_field_name("type")
        if ftype is not None:
            params = [p for p in ftype.children if p.type == "lambda_function_type_parameters"]
            for p in params:
                for i, lp in enumerate(named(p)):
                    n = lp.child_by_field_name("name")
                    if n is not None:
                        inner.vars[text(n)] = types[i] if i < len(types) else None
            declared = [c for f, c in fields(ftype) if f == "name" and c.type != "simple_identifier"]
            if declared:
                return norm_type(text(declared[-1]))
        return self.infer(named(stmts)[0], inner)

    def member_type(self, t, name):
        el = element(t)
        if el is not None:
            return {"count": "Int", "isEmpty": "Bool", "first": el + "?", "last": el + "?"}.get(name)
        if base(t) == "String":
            return {"count": "Int", "isEmpty": "Bool"}.get(name)
        mt = self.model.member(base(t), name)
        if mt:
            return mt + "?" if is_optional(t) and not is_optional(mt) else mt
        return None
