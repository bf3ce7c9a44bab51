"""The zh_Hans translation is complete, consistent, compiled, and actually used."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

from django.utils import translation

from django_wechatpay.models import Order
from django_wechatpay.states import TradeState

PACKAGE = Path(__file__).resolve().parents[2] / "django_wechatpay"
LOCALE = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)s")
# gettext calls in code and {% translate %} in templates, with a plain literal argument.
CALLS = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")
TAGS = re.compile(r"""\{%\s*translate\s+"([^"]*)"\s*%\}|\{%\s*translate\s+'([^']*)'\s*%\}""")


def catalogue() -> dict[str, str]:
    entries: dict[str, str] = {}
    for block in (LOCALE / "django.po").read_text("utf-8").split("\n\n"):
        lines = block.splitlines()
        if any(line.startswith("#, fuzzy") for line in lines) and 'msgid ""' not in block:
            raise AssertionError(f"fuzzy entry: {block}")
        current, parts = None, {"msgid": [], "msgstr": []}
        for line in lines:
            if line.startswith(("msgid ", "msgstr ")):
                current, _, line = line.partition(" ")
            if current and line.startswith('"'):
                parts[current].append(line[1:-1].replace('\\"', '"').replace("\\n", "\n"))
        msgid = "".join(parts["msgid"])
        if msgid:
            entries[msgid] = "".join(parts["msgstr"])
    return entries


def test_every_string_is_translated_with_the_same_placeholders():
    entries = catalogue()
    assert len(entries) > 150
    for msgid, msgstr in entries.items():
        assert msgstr, f"untranslated: {msgid!r}"
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), msgid


def test_compiled_catalogue_matches_the_source():
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in catalogue().items():
        assert compiled.gettext(msgid) == msgstr, msgid


def test_every_literal_in_the_code_is_in_the_catalogue():
    entries = catalogue()
    sources = [
        p
        for p in PACKAGE.rglob("*.py")
        if not {"core", "sandbox", "api", "migrations"} & set(p.parts)
    ]
    literals = set()
    for path in sources:
        literals |= {ast.literal_eval(f'"{m}"') for m in CALLS.findall(path.read_text("utf-8"))}
    for path in (PACKAGE / "templates").rglob("*.html"):
        literals |= {a or b for a, b in TAGS.findall(path.read_text("utf-8"))}
    missing = sorted(s for s in literals if s not in entries)
    assert missing == []


def test_the_admin_speaks_chinese():
    with translation.override("zh-hans"):
        assert str(TradeState.SUCCESS.label) == "支付成功"
        assert str(Order._meta.verbose_name) == "订单"
