"""The localized keys of the SwiftUI app: every plain snake_case key the app passes to a text
position (Text, Button, Label, TextField, navigationTitle, NSLocalizedString, ...) or returns
as a key (`return "key"`, `case .x: "key"`) must exist in its en, ja and de Localizable.strings.
This reads the Swift text with regular expressions: keys are plain string literals.
"""
import os
import re

LANGS = ("en", "ja", "de")
_TEXT_CALL = re.compile(
    r'(?:Text|Button|Label|TextField|SecureField|NavigationLink|Picker|Section|ProgressView|navigationTitle'
    r'|NSLocalizedString|Toggle)\(\s*"([a-z]+_[a-z0-9_]+(?: %@| %lld)*)"')
_RETURNED = re.compile(r'(?:return|:) "([a-z]+_[a-z0-9_]+)"')


def strings_of(ios):
    out = {}
    for lang in LANGS:
        path = os.path.join(ios, f"App/Resources/{lang}.lproj/Localizable.strings")
        with open(path, encoding="utf-8") as f:
            out[lang] = set(re.findall(r'^"((?:[^"\\]|\\.)*)"\s*=', f.read(), re.M))
    return out


def check(ios, repo, app_sources, checker):
    """Checks the keys of `app_sources` (paths), counting on `checker` (passed/failures)."""
    strings = strings_of(ios)
    for path in sorted(app_sources):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        rel = os.path.relpath(path, repo)
        for pattern in (_TEXT_CALL, _RETURNED):
            for m in pattern.finditer(source):
                key = m.group(1)
                missing = [lang for lang in LANGS if key not in strings[lang]]
                where = f"{rel}:{source.count(chr(10), 0, m.start()) + 1}"
                if missing:
                    checker.failures.append(f"{where}: localized key `{key}` missing in {', '.join(missing)}")
                else:
                    checker.passed += 1
