"""The Swift API checker behind ios/check-api.

Parses the generated WardCRF.swift and every hand-written Swift file of ios/ with tree-sitter's
Swift grammar, builds a model of the generated API from the parse tree (api.py), and checks the
calls, argument labels, `try`/`await`, enum cases and literal argument types of the app's Swift
against it (calls.py); the app's localized keys against its Localizable.strings (l10n.py).
"""
