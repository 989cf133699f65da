"""One run of the checker: parse the generated bindings and the app's Swift, build the model,
check every file, then the localized keys."""
import os

from . import l10n
from .api import Model, read_declarations
from .calls import Checker
from .parse import errors, parse

SOURCE_DIRS = ("Sources/WardCRF", "Sources/WardCRFUI", "Tests", "App")
# Declarations every generated WardCRF.swift has: without them the file is not the bindings.
EXPECTED = ("CaseStore", "WardcrfError", "KeyProvider")


def sources(ios):
    out = []
    for base in SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(ios, base)):
            if "Generated" in root:
                continue
            out += [os.path.join(root, f) for f in files if f.endswith(".swift")]
    return sorted(out)


def check_texts(generated, files, verbose=False, expected=EXPECTED):
    """The Checker after checking `files` ({shown path: Swift text}) against the generated
    Swift text `generated`."""
    model = Model()
    read_declarations(parse(generated), True, model)
    checker = Checker(model)
    checker.verbose = verbose
    missing = [n for n in expected if model.generated(n) is None]
    if missing:
        checker.failures.append(f"the model of the generated API lacks {', '.join(missing)}")
        return checker
    trees = {}
    for rel, source in files.items():
        tree = parse(source)
        bad = errors(tree)
        if bad:
            checker.failures.append(f"{rel}:{bad[0]}: the Swift parser cannot read this (syntax error)")
            continue
        trees[rel] = tree
        read_declarations(tree, False, model)
    for rel, tree in trees.items():
        checker.check_file(rel, tree)
    return checker


def check(ios, repo, generated, extra=(), verbose=False):
    """(passed, [failure]) for the Swift of `ios` plus `extra` files against `generated`."""
    if not os.path.exists(generated):
        return 0, [f"{generated} is missing: run bindings/generate first"]
    with open(generated, encoding="utf-8") as f:
        generated_text = f.read()
    paths = sources(ios) + [os.path.abspath(e) for e in extra]
    files = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            files[os.path.relpath(path, repo)] = f.read()
    checker = check_texts(generated_text, files, verbose)
    l10n.check(ios, repo, [p for p in paths if os.sep + "App" + os.sep in p], checker)
    for p in checker.passes:
        print("ok  " + p)
    return checker.passed, checker.failures
