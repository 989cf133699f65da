"""One run of the checker: parse the generated bindings and the app's Swift, build the model,
check every file, then the localized keys."""
import os

from . import l10n
from .api import Model, read_declarations
from .calls import Checker
from .parse import errors, parse

SOURCE_DIRS = ("Sources/WardCRF", "Sources/WardCRFUI", "Tests", "App")


def sources(ios):
    out = []
    for base in SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(ios, base)):
            if "Generated" in root:
                continue
            out += [os.path.join(root, f) for f in files if f.endswith(".swift")]
    return sorted(out)


def check(ios, repo, generated, extra=(), verbose=False):
    """(passed, [failure]) for the Swift of `ios` plus `extra` files against `generated`."""
    if not os.path.exists(generated):
        return 0, [f"{generated} is missing: run bindings/generate first"]
    model = Model()
    with open(generated, encoding="utf-8") as f:
        read_declarations(parse(f.read()), True, model)
    missing = [n for n in ("CaseStore", "WardcrfError", "KeyProvider") if model.generated(n) is None]
    if missing:
        return 0, [f"{generated}: the model of the generated API lacks {', '.join(missing)}"]
    checker = Checker(model)
    checker.verbose = verbose
    files = sources(ios) + [os.path.abspath(e) for e in extra]
    trees = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            tree = parse(f.read())
        rel = os.path.relpath(path, repo)
        bad = errors(tree)
        if bad:
            checker.failures.append(f"{rel}:{bad[0]}: the Swift parser cannot read this (syntax error)")
            continue
        trees[rel] = tree
        read_declarations(tree, False, model)
    for rel, tree in trees.items():
        checker.check_file(rel, tree)
    l10n.check(ios, repo, [p for p in files if os.sep + "App" + os.sep in p], checker)
    for p in checker.passes:
        print("ok  " + p)
    return checker.passed, checker.failures
