"""Runs the checker's tests; prints `swift-api-self-test: N passed, N failed`; exits 1 on any
failure, error or when no test ran."""
import sys
import unittest

from . import test_checker

suite = unittest.defaultTestLoader.loadTestsFromModule(test_checker)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
passed = result.testsRun - failed - len(result.skipped)
print(f"swift-api-self-test: {passed} passed, {failed} failed")
sys.exit(1 if failed or result.skipped or passed == 0 else 0)
