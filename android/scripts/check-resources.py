#!/usr/bin/env python3
"""Checks the app's string resources without the Android SDK (aapt is not available here).

Every `R.string.x` the app's Kotlin (main and androidTest) uses exists in values/strings.xml;
every translatable string has its Japanese and German text and no language has strings the
English lacks; the format placeholders (%1$s, %2$d, ...) agree across languages; no string
holds an unescaped apostrophe or double quote (aapt refuses them). Exits non-zero with one
line per problem.
"""
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

android = pathlib.Path(__file__).resolve().parent.parent
res = android / "app/src/main/res"
problems = []


def strings(folder):
    path = res / folder / "strings.xml"
    tree = ET.parse(path)
    out = {}
    raw = path.read_text(encoding="utf-8")
    for m in re.finditer(r'<string name="([^"]+)"([^>]*)>(.*?)</string>', raw, re.S):
        name, attrs, body = m.groups()
        if name in out:
            problems.append(f"{folder}: {name} is defined twice")
        out[name] = (body, 'translatable="false"' in attrs)
    # The file must also be well-formed XML.
    assert tree.getroot().tag == "resources"
    return out


def placeholders(text):
    return sorted(set(re.findall(r"%(\d+)\$([sd])", text)))


en = strings("values")
for lang in ("values-ja", "values-de"):
    other = strings(lang)
    for name, (body, fixed) in en.items():
        if fixed:
            continue
        if name not in other:
            problems.append(f"{lang}: {name} is missing")
        elif placeholders(body) != placeholders(other[name][0]):
            problems.append(f"{lang}: {name} has other placeholders than the English")
    for name in other:
        if name not in en:
            problems.append(f"{lang}: {name} is not in values/strings.xml")
    for name, (body, _) in other.items():
        if re.search(r"(?<!\\)['\"]", body):
            problems.append(f"{lang}: {name} has an unescaped quote")
for name, (body, _) in en.items():
    if re.search(r"(?<!\\)['\"]", body):
        problems.append(f"values: {name} has an unescaped quote")

used = set()
for kt in list((android / "app/src").rglob("*.kt")):
    used.update(re.findall(r"\bR\.string\.(\w+)", kt.read_text(encoding="utf-8")))
for name in sorted(used - en.keys()):
    problems.append(f"R.string.{name} is used but not defined")

for p in problems:
    print(f"check-resources: {p}", file=sys.stderr)
print(f"check-resources: {len(en)} strings, {len(used)} used, {len(problems)} problems")
sys.exit(1 if problems else 0)
