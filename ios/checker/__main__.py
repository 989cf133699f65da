"""`python -m checker [--verbose] [GENERATED.swift] [--extra FILE.swift ...]`: checks the Swift
of ios/ (and any extra files, which the checker's own tests use to seed faults) against the
generated bindings. Prints each failure as `file:line: what` (with --verbose also each check
that passed), then `swift-api: N passed, N failed`; exits 1 on any failure or when nothing was
checked.
"""
import os
import sys

from . import run


def main(argv):
    extra, generated, verbose = [], None, False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--verbose":
            verbose = True
        elif a == "--extra":
            extra.append(args.pop(0))
        elif generated is None:
            generated = a
        else:
            print("usage: ios/check-api [--verbose] [GENERATED.swift]", file=sys.stderr)
            return 2
    ios = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    repo = os.path.dirname(ios)
    if generated is None:
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target")
        generated = os.path.join(target, "bindings/swift/WardCRF.swift")
    passed, failures = run.check(ios, repo, generated, extra, verbose)
    for f in failures:
        print(f, file=sys.stderr)
    print(f"swift-api: {passed} passed, {len(failures)} failed")
    return 1 if failures or passed == 0 else 0


sys.exit(main(sys.argv[1:]))
