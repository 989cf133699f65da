"""Validates a FHIR R4 Bundle exported by wardcrf-server (run through validate.sh).

1. fhir.resources (FHIR 4.0.1 models, pydantic) parses the whole Bundle: every resource,
   element, primitive format (dates, ids, uris) and choice type ([x]) is checked.
2. Then the checks the models do not make:
   - the Bundle is a collection with one Questionnaire, entries with unique fullUrls;
   - every QuestionnaireResponse names that Questionnaire (url|version) and every one of its
     items exists in the Questionnaire at the same place (same parent item), a group item has
     no answers and other items no child items, an item or an answer repeats only where the
     Questionnaire item says `repeats`, and every answer has the value[x] of its item's type
     (a choice: a valueCoding whose system and code are among the item's answerOptions);
   - every enableWhen names a question of the Questionnaire, with an answer of its type;
   - every Observation is derived from a QuestionnaireResponse of the Bundle; one with a
     valueQuantity (vital signs, lab values) has a LOINC code and the quantity in UCUM
     (system, code); one without (a pathogen test) is a laboratory Observation with a coded
     `code` and text and a valueCodeableConcept or a dataAbsentReason;
   - every Condition has a coded `code`, a subject and evidence naming a QuestionnaireResponse
     of the Bundle;
   - every Coding anywhere (Questionnaire, answers, extensions, resources) names a known code
     system: the canonical URIs of LOINC, SNOMED CT, ICD-10, ICD-10-GM, ATC and UCUM (and its
     code has that system's shape), HL7 terminology, or WardCRF's own `urn:wardcrf:` systems.
Prints a JSON summary (counts) on stdout; exit 1 listing every problem on stderr.
"""

import json
import re
import sys

from fhir.resources import __fhir_version__
from fhir.resources.bundle import Bundle

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# The standard code systems of the form format (core CodeSystem::fhir_uri) and their codes'
# shapes (core CodeSystem::check).
STANDARD = {
    LOINC: re.compile(r"^[0-9]{1,7}-[0-9]$"),
    "http://snomed.info/sct": re.compile(r"^[1-9][0-9]{5,17}$"),
    "http://hl7.org/fhir/sid/icd-10": re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$"),
    "http://fhir.de/CodeSystem/bfarm/icd-10-gm": re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?$"),
    "http://www.whocc.no/atc": re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"),
}
OTHER_SYSTEMS = (
    UCUM,
    "http://terminology.hl7.org/CodeSystem/",
    "urn:wardcrf:",
    "urn:iso-astm:E1762-95:2013",
)

VALUE_KEY = {
    "string": "valueString",
    "text": "valueString",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "boolean": "valueBoolean",
    "choice": "valueCoding",
    "open-choice": "valueCoding",
    "url": "valueUri",
    "quantity": "valueQuantity",
}

ANSWER_KEY = {
    "string": "answerString",
    "text": "answerString",
    "integer": "answerInteger",
    "decimal": "answerDecimal",
    "date": "answerDate",
    "dateTime": "answerDateTime",
    "boolean": "answerBoolean",
    "choice": "answerCoding",
    "open-choice": "answerCoding",
}


def main(path):
    problems = []
    if __fhir_version__ != "4.0.1":
        problems.append(f"fhir.resources models FHIR {__fhir_version__}, not R4 4.0.1")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        Bundle.parse_raw(raw, content_type="application/json")
    except Exception as e:  # pydantic.ValidationError lists every failure
        text = str(e)
        if len(text) > 20000:
            text = text[:20000] + "\n..."
        problems.append(f"fhir.resources (FHIR {__fhir_version__}) rejects the Bundle:\n{text}")
        report(problems, {})
        return
    bundle = json.loads(raw)
    summary = check(bundle, problems)
    report(problems, summary)


def report(problems, summary):
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary, sort_keys=True))


def check(bundle, problems):
    if bundle.get("type") != "collection":
        problems.append(f"Bundle.type is {bundle.get('type')!r}, not 'collection'")
    entries = bundle.get("entry", [])
    urls = [e.get("fullUrl") for e in entries]
    if None in urls:
        problems.append("an entry has no fullUrl")
    if len(set(urls)) != len(urls):
        problems.append("fullUrls are not unique")
    by_type = {}
    for e in entries:
        r = e["resource"]
        by_type.setdefault(r["resourceType"], []).append((e.get("fullUrl"), r))
    questionnaires = by_type.get("Questionnaire", [])
    if len(questionnaires) != 1:
        problems.append(f"{len(questionnaires)} Questionnaires, expected 1")
        return {}
    q = questionnaires[0][1]
    canonical = f"{q['url']}|{q['version']}"

    # Every Questionnaire item by linkId, with the linkId of its parent.
    items = {}

    def index(item_list, parent):
        for it in item_list:
            link = it["linkId"]
            if link in items:
                problems.append(f"Questionnaire linkId {link!r} is used twice")
            items[link] = (it, parent)
            index(it.get("item", []), link)

    index(q.get("item", []), None)

    enable_when = 0
    for link, (it, _) in items.items():
        for ew in it.get("enableWhen", []):
            enable_when += 1
            target = items.get(ew["question"])
            if target is None:
                problems.append(f"{link}: enableWhen names {ew['question']!r}, not a question")
                continue
            answer_keys = [k for k in ew if k.startswith("answer")]
            if ew["operator"] == "exists":
                if answer_keys != ["answerBoolean"]:
                    problems.append(f"{link}: enableWhen 'exists' needs answerBoolean")
                continue
            expected = ANSWER_KEY.get(target[0]["type"])
            if answer_keys != [expected]:
                problems.append(
                    f"{link}: enableWhen on {ew['question']} ({target[0]['type']}) has "
                    f"{answer_keys}, expected {expected}"
                )
            elif expected == "answerCoding":
                coding = ew["answerCoding"]
                if not option_has(target[0], coding):
                    problems.append(
                        f"{link}: enableWhen on {ew['question']} names code "
                        f"{coding.get('code')!r}, not an answerOption"
                    )
        if it["type"] in ("choice", "open-choice") and not it.get("answerOption"):
            problems.append(f"{link}: a choice item without answerOption")

    responses = by_type.get("QuestionnaireResponse", [])
    response_urls = {url for url, _ in responses}
    answers = 0
    for url, qr in responses:
        if qr.get("questionnaire") != canonical:
            problems.append(f"{url}: questionnaire is {qr.get('questionnaire')!r}, not {canonical!r}")
        answers += check_items(url, qr.get("item", []), None, items, problems)

    observations = by_type.get("Observation", [])
    coded_observations = 0
    for url, obs in observations:
        codings = obs.get("code", {}).get("coding", [])
        vq = obs.get("valueQuantity")
        if vq is not None:
            if not any(c.get("system") == LOINC and c.get("code") for c in codings):
                problems.append(f"{url}: no LOINC code")
            if vq.get("system") != UCUM or not vq.get("code") or "value" not in vq:
                problems.append(f"{url}: no valueQuantity with a UCUM code")
        else:
            coded_observations += 1
            if not codings or not obs.get("code", {}).get("text"):
                problems.append(f"{url}: a coded Observation without codings and text")
            categories = [
                c.get("code") for cat in obs.get("category", []) for c in cat.get("coding", [])
            ]
            if "laboratory" not in categories:
                problems.append(f"{url}: a coded Observation that is not a laboratory one")
            value = obs.get("valueCodeableConcept")
            if value is None and "dataAbsentReason" not in obs:
                problems.append(f"{url}: neither valueCodeableConcept nor dataAbsentReason")
            if value is not None and not value.get("coding"):
                problems.append(f"{url}: valueCodeableConcept without a coding")
        derived = [d.get("reference") for d in obs.get("derivedFrom", [])]
        if not derived or any(d not in response_urls for d in derived):
            problems.append(f"{url}: derivedFrom {derived} is not a QuestionnaireResponse here")

    conditions = by_type.get("Condition", [])
    for url, cond in conditions:
        if not cond.get("code", {}).get("coding"):
            problems.append(f"{url}: a Condition without a coded code")
        subject = cond.get("subject", {})
        if not subject.get("reference") and not subject.get("identifier", {}).get("value"):
            problems.append(f"{url}: a Condition without a subject")
        evidence = [d.get("reference") for e in cond.get("evidence", []) for d in e.get("detail", [])]
        if not evidence or any(e not in response_urls for e in evidence):
            problems.append(f"{url}: evidence {evidence} is not a QuestionnaireResponse here")

    systems = {}
    for coding in codings_in(bundle):
        system, code = coding.get("system"), coding.get("code")
        systems[system] = systems.get(system, 0) + 1
        shape = STANDARD.get(system)
        if shape is not None:
            if not isinstance(code, str) or not shape.match(code):
                problems.append(f"code {code!r} does not have the shape of {system}")
        elif not isinstance(system, str) or not system.startswith(OTHER_SYSTEMS):
            problems.append(f"a Coding of an unknown system {system!r} (code {code!r})")

    return {
        "fhir_version": __fhir_version__,
        "questionnaire_items": len(items),
        "enable_when": enable_when,
        "responses": len(responses),
        "answers": answers,
        "observations": len(observations),
        "coded_observations": coded_observations,
        "conditions": len(conditions),
        "standard_codings": {s: n for s, n in systems.items() if s in STANDARD},
        "entries": len(entries),
    }


def codings_in(value):
    """Every Coding (an object with `system` and `code`) anywhere in `value`."""
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield value
        for v in value.values():
            yield from codings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from codings_in(v)


def option_has(item, coding):
    return any(
        o.get("valueCoding", {}).get("system") == coding.get("system")
        and o.get("valueCoding", {}).get("code") == coding.get("code")
        for o in item.get("answerOption", [])
    )


def check_items(where, response_items, parent, items, problems):
    """Checks the response items under `parent` (a linkId, None at the top); counts answers."""
    answers = 0
    seen = {}
    for ri in response_items:
        link = ri.get("linkId")
        seen[link] = seen.get(link, 0) + 1
        found = items.get(link)
        if found is None:
            problems.append(f"{where}: item {link!r} is not in the Questionnaire")
            continue
        qi, q_parent = found
        if q_parent != parent:
            problems.append(f"{where}: item {link!r} is under {parent!r}, not {q_parent!r}")
        kind = qi["type"]
        if kind == "group":
            if ri.get("answer"):
                problems.append(f"{where}: group {link!r} has answers")
            if not ri.get("item"):
                problems.append(f"{where}: group {link!r} has no items")
            answers += check_items(where, ri.get("item", []), link, items, problems)
            continue
        if ri.get("item"):
            problems.append(f"{where}: question {link!r} has child items")
        given = ri.get("answer", [])
        if not given:
            problems.append(f"{where}: question {link!r} without an answer")
        if len(given) > 1 and not qi.get("repeats"):
            problems.append(f"{where}: {len(given)} answers to {link!r}, which does not repeat")
        key = VALUE_KEY.get(kind)
        for a in given:
            answers += 1
            keys = [k for k in a if k.startswith("value")]
            if keys != [key]:
                problems.append(f"{where}: answer to {link!r} ({kind}) is {keys}, expected {key}")
                continue
            if key == "valueCoding" and not option_has(qi, a["valueCoding"]):
                problems.append(
                    f"{where}: answer to {link!r} has code {a['valueCoding'].get('code')!r}, "
                    "not an answerOption"
                )
            if key == "valueString" and "maxLength" in qi and len(a[key]) > qi["maxLength"]:
                problems.append(f"{where}: answer to {link!r} is longer than maxLength")
    for link, n in seen.items():
        found = items.get(link)
        if n > 1 and found is not None and not found[0].get("repeats"):
            problems.append(f"{where}: item {link!r} appears {n} times but does not repeat")
    return answers


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: validate.py BUNDLE.json", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
