"""The checker against the real generated bindings (the shipped sources pass, the three seeded
faults of fixtures/ fail) and, on a small generated API of its own, each rule it enforces.

The real bindings: $WARDCRF_SWIFT_GENERATED, else $CARGO_TARGET_DIR (else target/)
/bindings/swift/WardCRF.swift; a missing file fails these tests (bindings/generate first).
"""
import os
import subprocess
import sys
import unittest

from .. import run

HERE = os.path.dirname(os.path.abspath(__file__))
IOS = os.path.dirname(os.path.dirname(HERE))
REPO = os.path.dirname(IOS)
FIXTURES = os.path.join(HERE, "fixtures")


def generated_path():
    explicit = os.environ.get("WARDCRF_SWIFT_GENERATED")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    return os.path.join(target, "bindings/swift/WardCRF.swift")


class RealBindings(unittest.TestCase):
    """The shipped Swift of ios/ against the generated WardCRF.swift."""

    def setUp(self):
        self.generated = generated_path()
        self.assertTrue(os.path.exists(self.generated), f"{self.generated} is missing: run bindings/generate")

    def seeded(self, name):
        fixture = os.path.join(FIXTURES, name)
        passed, failures = run.check(IOS, REPO, self.generated, extra=[fixture])
        self.assertGreater(passed, 0)
        return failures

    def test_the_shipped_sources_pass(self):
        passed, failures = run.check(IOS, REPO, self.generated)
        self.assertEqual(failures, [])
        self.assertGreater(passed, 100)

    def test_a_seeded_type_error_fails(self):
        failures = self.seeded("seeded_type_error.swift")
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("ios/checker/tests/fixtures/seeded_type_error.swift:5: type error: a string literal `\"en\"` "
                      "passed as argument `lang` of `CaseStore.viewCase`, which is `Language`", failures[0])

    def test_a_seeded_missing_try_fails(self):
        failures = self.seeded("seeded_missing_try.swift")
        self.assertEqual(failures, ["ios/checker/tests/fixtures/seeded_missing_try.swift:5: "
                                    "`CaseStore.viewCase` throws: the call needs `try`"])

    def test_a_seeded_unknown_enum_case_fails(self):
        failures = self.seeded("seeded_unknown_case.swift")
        self.assertEqual(failures, ["ios/checker/tests/fixtures/seeded_unknown_case.swift:8: "
                                    "`.archived` is not a case of the generated enum `CaseStatus`"])

    def test_the_command_exits_1_with_the_summary_line(self):
        fixture = os.path.join(FIXTURES, "seeded_missing_try.swift")
        out = subprocess.run([sys.executable, "-m", "checker", self.generated, "--extra", fixture],
                             cwd=IOS, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": IOS})
        self.assertEqual(out.returncode, 1, out.stderr)
        last = out.stdout.strip().splitlines()[-1]
        self.assertRegex(last, r"^swift-api: [1-9][0-9]* passed, 1 failed$")
        self.assertIn("seeded_missing_try.swift:5:", out.stderr)


MINI = """
public protocol ThingProtocol: AnyObject, Sendable {
    func get(id: String) throws -> Item
}
open class Thing: ThingProtocol, @unchecked Sendable {
    required public init(unsafeFromHandle handle: UInt64) {}
    public static func open(dir: String) throws -> Thing { fatalError() }
    open func get(id: String) throws -> Item { fatalError() }
    open func list(filter: Filter = Filter(), limit: UInt32? = nil) -> [Item] { [] }
    open func fetch(url: String) async throws -> String { "" }
    open func setState(id: String, state: State) throws {}
    open func answer(id: String, answer: Answer?, kept: Kept) throws -> Session { fatalError() }
}
public struct Item: Equatable, Hashable {
    public var id: String
    public var state: State
    public init(id: String, state: State) {
        self.id = id
        self.state = state
    }
}
public struct Filter: Equatable, Hashable {
    public var state: State?
    public init(state: State? = nil) {
        self.state = state
    }
}
public enum State: Equatable, Hashable {
    case open
    case closed
}
public
enum ThingError: Swift.Error, Equatable, Hashable {
    case Gone(what: String
    )
    case Busy
}
public enum Answer: Equatable, Hashable {
    case text(text: String
    )
    case number(value: Double
    )
    case none
}
public enum Kept: Equatable, Hashable {
    case keep
    case clear(reason: String
    )
}
public struct Session: Equatable, Hashable {
    public var answers: [Answer]
    public var first: Answer?
    public init(answers: [Answer], first: Answer?) {
        self.answers = answers
        self.first = first
    }
}
public protocol Listener: AnyObject, Sendable {
    func heard(n: UInt32)
}
public func make(name: String, count: UInt32 = 1) throws -> Item { fatalError() }
"""

APP = """
import Foundation

final class Box: @unchecked Sendable {
    let thing: Thing
    init(_ thing: Thing) { self.thing = thing }
    func with<T>(_ body: @escaping @Sendable (Thing) throws -> T) rethrows -> T { try body(thing) }
}
"""


class Rules(unittest.TestCase):
    """Each rule on a small generated API (MINI) and the app's `Box.with { $0 ... }` helper."""

    def failures(self, body, extra=""):
        source = APP + extra + "\nfunc probe(t: Thing, box: Box, item: Item) async throws {\n" + body + "\n}\n"
        checker = run.check_texts(MINI, {"probe.swift": source}, expected=("Thing",))
        return checker.failures

    def assertFails(self, body, *needles, extra=""):
        failures = self.failures(body, extra)
        self.assertEqual(len(failures), 1, failures)
        for needle in needles:
            self.assertIn(needle, failures[0])

    def assertPasses(self, body, extra=""):
        self.assertEqual(self.failures(body, extra), [])

    def test_defaulted_parameters_may_be_left_out_but_the_order_holds(self):
        self.assertPasses("_ = t.list()\n_ = t.list(limit: 3)\n_ = t.list(filter: Filter(), limit: nil)")
        self.assertFails("_ = t.list(limit: 3, filter: Filter())", "`Thing.list`(limit:filter:) does not match",
                         "list(filter?:limit?:)")

    def test_an_unknown_method_or_member_fails(self):
        self.assertFails("_ = try t.gett(id: \"a\")", "`Thing.gett` is not in the generated API")
        self.assertFails("_ = item.nme", "`Item` has no member `nme`")
        self.assertPasses("_ = item.id")

    def test_a_throwing_call_needs_try_and_an_async_one_await(self):
        self.assertFails("_ = t.get(id: \"a\")", "probe.swift:11:", "`Thing.get` throws: the call needs `try`")
        self.assertFails("_ = try t.fetch(url: \"u\")", "`Thing.fetch` is async: the call needs `await`")
        self.assertPasses("_ = try await t.fetch(url: \"u\")\n_ = try? t.get(id: \"a\")\n"
                          "let n = try t.get(id: \"a\").id + t.get(id: \"b\").id\n_ = n")

    def test_a_closure_parameter_of_a_helper_is_the_generated_type(self):
        self.assertFails("_ = box.with { $0.get(id: \"x\") }", "`Thing.get` throws")
        self.assertFails("let i = try box.with { try $0.get(id: \"x\") }\n_ = i.nope", "`Item` has no member `nope`")
        self.assertFails("_ = try box.with { thing in try thing.get(id: 1) }", "an integer literal `1`")
        self.assertFails("_ = t.list().map { $0.nme }", "`Item` has no member `nme`")
        self.assertPasses("_ = box.with { $0.list() }")  # `with` rethrows: no `try` for a closure that cannot throw

    def test_literals_and_typed_values_must_fit_the_parameter(self):
        self.assertFails("try t.setState(id: \"a\", state: \"open\")", "a string literal `\"open\"`", "`State`")
        self.assertFails("_ = try t.get(id: nil)", "`nil` passed as argument `id`")
        self.assertFails("let s: State = .open\n_ = try t.get(id: s)", "`s` is `State`", "which is `String`")
        self.assertFails("_ = try make(name: \"n\", count: 1.5)", "a number literal `1.5`")
        self.assertPasses("_ = try make(name: \"n\", count: 2)\n_ = t.list(limit: nil)")

    def test_enum_cases_must_exist(self):
        self.assertFails("try t.setState(id: \"a\", state: .opened)",
                         "`.opened` is not a case of the generated enum `State`")
        self.assertFails("_ = State.shut", "`.shut` is not a case")
        self.assertFails("if item.state == .closd {}", "`.closd`")
        self.assertFails("var f = Filter()\nf.state = .gone\n_ = f", "`.gone`")
        self.assertFails("switch item.state {\ncase .open: break\ncase .ajar: break\ndefault: break\n}", "`.ajar`")
        self.assertFails("do { _ = try t.get(id: \"a\") } catch ThingError.Lost {}", "`.Lost`")
        self.assertFails("throw ThingError.Gone(thing: \"x\")", "case `ThingError.Gone`(thing:) does not match")
        self.assertPasses("throw ThingError.Gone(what: \"x\")")

    def test_enum_cases_with_values_in_arguments_and_patterns(self):
        self.assertPasses("let s = try t.answer(id: \"a\", answer: .text(text: \"x\"), kept: .clear(reason: \"r\"))\n"
                          "for a in s.answers {\n switch a {\n case let .text(text): _ = text.count\n"
                          " case .number(let v): _ = v\n case .none: break\n }\n}\n"
                          "if case let .text(x)? = s.first { _ = x.count }\n"
                          "_ = try t.answer(id: \"a\", answer: nil, kept: .keep)")
        self.assertFails("_ = try t.answer(id: \"a\", answer: .text(value: \"x\"), kept: .keep)",
                         "case `Answer.text`(value:) does not match")
        self.assertFails("_ = try t.answer(id: \"a\", answer: .number(value: \"x\"), kept: .keep)",
                         "a string literal `\"x\"`", "`Double`")
        self.assertFails("_ = try t.answer(id: \"a\", answer: .date(date: \"2020\"), kept: .keep)",
                         "`.date` is not a case of the generated enum `Answer`")
        self.assertFails("let s = try t.answer(id: \"a\", answer: nil, kept: .keep)\n"
                         "for a in s.answers {\n switch a {\n case .text: break\n case .choice: break\n"
                         " default: break\n }\n}",
                         "`.choice` is not a case of the generated enum `Answer`")

    def test_optionals_tuples_and_ternaries(self):
        self.assertPasses("let st: State? = item.state\nswitch st {\ncase .some(.open): break\ncase .closed?: break\n"
                          "case .none: break\n}\nfor (i, item) in t.list().enumerated() { _ = i; _ = item.id }")
        self.assertFails("let st: State? = item.state\nswitch st {\ncase .some(.ajar): break\ndefault: break\n}",
                         "`.ajar` is not a case")
        self.assertFails("try t.setState(id: \"a\", state: item.id.isEmpty ? .open : .shut)", "`.shut` is not a case")
        self.assertFails("let s = try t.answer(id: \"a\", answer: nil, kept: .keep)\n"
                         "for case let .text(x) in s.answers where x.isEmpty { _ = x.count }\n"
                         "for case .choice in s.answers {}", "probe.swift:13: `.choice` is not a case")
        self.assertFails("while let i = t.list().first, i.id.isEmpty { _ = i.nme }",
                         "`Item` has no member `nme`")

    def test_record_initialisers_use_the_generated_labels(self):
        self.assertFails("_ = Item(id: \"a\", status: .open)", "`Item` initialiser(id:status:) does not match")
        self.assertFails("_ = Thing()", "`Thing` initialiser() does not match the generated init(unsafeFromHandle:)")
        self.assertPasses("_ = Item(id: \"a\", state: .closed)\n_ = Filter(state: .open)")

    def test_a_class_implementing_a_generated_protocol_has_its_methods(self):
        self.assertFails("", "`L` conforms to the generated `Listener` but has no `heard(n:)`",
                         extra="final class L: Listener { func heard(count: UInt32) {} }\n")
        self.assertPasses("", extra="final class L: Listener { func heard(n: UInt32) {} }\n")

    def test_our_own_functions_and_closures_shadow_generated_names(self):
        self.assertPasses("func make(name: Int) -> Int { name }\n_ = make(name: 1)")
        self.assertPasses("let make = { (x: Int) in x }\n_ = make(2)")
        self.assertFails("_ = try make(name: 1)", "an integer literal `1`")

    def test_our_own_throwing_and_async_functions_need_try_and_await(self):
        own = "func load() async throws -> Int { 1 }\nfunc plain(_ x: Int) throws {}\n"
        self.assertFails("_ = try load()", "`load` (ours) is async: the call needs `await`", extra=own)
        self.assertFails("try await plain(load())\nplain(1)", "probe.swift:14: `plain` (ours) throws", extra=own)
        self.assertFails("let run: () async throws -> Void = {}\ntry run()", "`run` is a closure that is async",
                         extra=own)
        self.assertPasses("try await plain(load())\nasync let n = load()\ntry await plain(n)", extra=own)

    def test_a_syntax_error_fails(self):
        self.assertFails("let = = 1", "the Swift parser cannot read this")


if __name__ == "__main__":
    unittest.main()
