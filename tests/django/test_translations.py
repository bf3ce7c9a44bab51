"""The zh_Hans translation is complete, consistent, compiled, and actually used.

What is checked, and why:

* the catalogue (``django.po``): every entry translated, none fuzzy, the same placeholders
  (``%(name)s``, ``%s``, ``{}``) on both sides, technical identifiers such as
  ``WECHATPAY['MERCHANTS']`` or ``apiclient_key.pem`` kept verbatim, written in Chinese, and a
  header that declares zh_Hans, UTF-8 and a single plural form;
* the committed ``django.mo`` says exactly what the ``.po`` says (users get no gettext, so a
  forgotten ``compilemessages`` would silently ship the old words);
* Django really picks the catalogue up under ``zh-hans`` (models, choices, templates);
* no user-facing string escapes extraction: every literal passed to a gettext function in the
  package (``core/`` and ``sandbox/`` excepted, as for ``makemessages``) and every
  ``{% translate %}`` / ``{% blocktranslate %}`` in its templates is a msgid of the catalogue,
  and every msgid is still used. When GNU gettext is installed, ``makemessages`` itself is run
  on a copy of the package as well.

To fix a failure, from ``django_wechatpay/``::

    PYTHONPATH=.. DJANGO_SETTINGS_MODULE=tests.settings ../.venv/bin/django-admin \
        makemessages -l zh_Hans --ignore "sandbox/*" --ignore "core/*" --no-location
    # translate the new entries in locale/zh_Hans/LC_MESSAGES/django.po, then
    PYTHONPATH=.. DJANGO_SETTINGS_MODULE=tests.settings ../.venv/bin/django-admin \
        compilemessages -l zh_Hans
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.utils import translation
from django.utils.translation import trim_whitespace

from django_wechatpay.models import Order
from django_wechatpay.states import RefundStatus, SharingState, TradeState, TransferState

PACKAGE = Path(__file__).resolve().parents[2] / "django_wechatpay"
LOCALE = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES"
PO = LOCALE / "django.po"
MO = LOCALE / "django.mo"
#: Left out of the catalogue on purpose, as in the makemessages command (--ignore).
NOT_TRANSLATED = {"core", "sandbox"}

#: Entries whose Chinese rendering is, on purpose, in Latin letters as WeChat Pay writes it.
LATIN_ON_PURPOSE = {"appid", "App"}

Key = tuple[str | None, str]  # (msgctxt, msgid)


# --- the .po ----------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b"}
_LINE = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+(".*")\s*$')


def _unquote(quoted: str, where: str) -> str:
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        raise AssertionError(f"{where}: not a quoted string: {quoted}")

    def escape(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            raise AssertionError(f"{where}: unknown escape \\{match.group(1)}")
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", escape, quoted[1:-1])


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return self.fields.get("msgctxt"), self.fields.get("msgid", "")

    @property
    def msgstrs(self) -> list[str]:
        if "msgstr" in self.fields:
            return [self.fields["msgstr"]]
        forms = sorted((int(k[7:-1]), v) for k, v in self.fields.items() if k.startswith("msgstr["))
        return [v for _, v in forms]


def parse_po(path: Path) -> tuple[Entry, dict[Key, Entry]]:
    """The header and the entries of a .po file; obsolete (``#~``) entries are left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    last: str | None = None
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line:
            current, last = None, None
            continue
        if line.startswith("#~"):
            continue
        if current is None:
            current = Entry(line=number)
            entries.append(current)
        if line.startswith("#,"):
            current.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := _LINE.match(line):
            last = match.group(1)
            if last in current.fields:
                raise AssertionError(f"{where}: {last} twice in one entry")
            current.fields[last] = _unquote(match.group(2), where)
        elif line.startswith('"') and last is not None:
            current.fields[last] += _unquote(line, where)
        else:
            raise AssertionError(f"{where}: cannot read {raw!r}")
    entries = [e for e in entries if "msgid" in e.fields]  # drop comment-only blocks
    headers = [e for e in entries if e.key == (None, "")]
    assert len(headers) == 1, "the .po has no header entry (or several)"
    catalogue: dict[Key, Entry] = {}
    for entry in entries:
        if entry is headers[0]:
            continue
        assert entry.key not in catalogue, f"line {entry.line}: duplicate msgid {entry.key}"
        catalogue[entry.key] = entry
    return headers[0], catalogue


HEADER, CATALOGUE = parse_po(PO)

# printf-style (%(name)s, %s, %d, %%) and str.format-style ({}, {0}, {name!r}) placeholders.
PLACEHOLDER = re.compile(
    r"%(?:\(\w+\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]|\{[^{}\s]*\}"
)
# snake_case names, file names, and subscripts such as WECHATPAY['MERCHANTS'].
IDENTIFIER = re.compile(r"\w+\[[^\]]*\]|\b\w*_\w*\b|\b\w+\.\w+\b", re.ASCII)
CJK = re.compile(r"[\u3400-\u9fff]")


def test_the_header_declares_simplified_chinese():
    assert "fuzzy" not in HEADER.flags, "the header is still marked fuzzy"
    meta = dict(
        line.split(": ", 1) for line in HEADER.fields["msgstr"].splitlines() if ": " in line
    )
    assert meta.get("Language") == "zh_Hans"
    assert meta.get("Content-Type") == "text/plain; charset=UTF-8"
    assert meta.get("Plural-Forms") == "nplurals=1; plural=0;"


def test_the_catalogue_is_not_empty():
    assert len(CATALOGUE) > 150


@pytest.mark.parametrize("key", sorted(CATALOGUE, key=str), ids=lambda k: k[1][:40])
def test_every_entry_is_translated_with_the_same_placeholders(key):
    entry = CATALOGUE[key]
    msgid = entry.fields.get("msgid_plural", key[1])
    assert "fuzzy" not in entry.flags, f"line {entry.line}: still fuzzy"
    assert entry.msgstrs, f"line {entry.line}: no msgstr"
    if "msgid_plural" in entry.fields:
        assert len(entry.msgstrs) == 1, f"line {entry.line}: zh_Hans has one plural form"
    for msgstr in entry.msgstrs:
        assert msgstr.strip(), f"line {entry.line}: untranslated"
        assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(PLACEHOLDER.findall(msgid)), (
            f"line {entry.line}: placeholders differ"
        )
        if " " in msgid:  # a bare field name (out_trade_no) is translated on purpose
            for name in IDENTIFIER.findall(msgid):
                assert name in msgstr, f"line {entry.line}: {name} must stay as it is"
        if key[1] not in LATIN_ON_PURPOSE:
            assert CJK.search(msgstr), f"line {entry.line}: not written in Chinese: {msgstr!r}"


# --- the .mo ----------------------------------------------------------------------------------


def test_the_compiled_catalogue_matches_the_source():
    with MO.open("rb") as handle:
        data = handle.read()
        handle.seek(0)
        compiled = gettext.GNUTranslations(handle)
    assert compiled.info().get("language") == "zh_Hans"
    # The .mo header holds the number of strings, the header entry included: an entry
    # left fuzzy or removed from the .po but still compiled shows here.
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    count = struct.unpack(f"{order}I", data[8:12])[0]
    assert count == len(CATALOGUE) + 1, "django.mo is stale: run compilemessages -l zh_Hans"
    stale = []
    for (context, msgid), entry in CATALOGUE.items():
        plural = entry.fields.get("msgid_plural")
        if plural is not None:
            got = [
                compiled.npgettext(context, msgid, plural, n)
                if context
                else compiled.ngettext(msgid, plural, n)
                for n in (1, 2)
            ]
            ok = got == [entry.msgstrs[0]] * 2
        elif context is not None:
            ok = compiled.pgettext(context, msgid) == entry.msgstrs[0]
        else:
            ok = compiled.gettext(msgid) == entry.msgstrs[0]
        if not ok:
            stale.append(msgid)
    assert stale == [], "django.mo is stale: run compilemessages -l zh_Hans"


# --- Django uses it ---------------------------------------------------------------------------

TRADE_STATES = {
    TradeState.NOTPAY: "未支付",
    TradeState.USERPAYING: "用户支付中",
    TradeState.SUCCESS: "支付成功",
    TradeState.REFUND: "转入退款",
    TradeState.CLOSED: "已关闭",
    TradeState.REVOKED: "已撤销",
    TradeState.PAYERROR: "支付失败",
}

REFUND_STATUSES = [
    pytest.param(RefundStatus.PROCESSING, "退款处理中", id="PROCESSING"),
    pytest.param(RefundStatus.SUCCESS, "退款成功", id="SUCCESS"),
    pytest.param(RefundStatus.CLOSED, "退款关闭", id="CLOSED"),
    pytest.param(RefundStatus.ABNORMAL, "退款异常", id="ABNORMAL"),
]


@pytest.mark.parametrize("state", TRADE_STATES, ids=lambda state: state.name)
def test_trade_states_read_as_wechat_pay_writes_them(state):
    with translation.override("zh-hans"):
        assert str(state.label) == TRADE_STATES[state]


@pytest.mark.parametrize(("status", "chinese"), REFUND_STATUSES)
def test_refund_statuses_read_as_wechat_pay_writes_them(status, chinese):
    with translation.override("zh-hans"):
        assert str(status.label) == chinese


def test_a_share_or_a_transfer_in_progress_is_not_called_a_refund():
    with translation.override("zh-hans"):
        assert str(SharingState.PROCESSING.label) == "处理中"
        assert str(TransferState.PROCESSING.label) == "处理中"
        assert str(RefundStatus.PROCESSING.label) == "退款处理中"


def test_models_and_templates_speak_chinese():
    with translation.override("zh-hans"):
        assert str(Order._meta.verbose_name) == "订单"
        assert str(Order._meta.get_field("out_trade_no").verbose_name) == "商户订单号"
        assert str(Order._meta.get_field("transaction_id").verbose_name) == "微信支付订单号"
        rendered = Template(
            "{% load i18n %}{% blocktranslate %}Still refundable: {{ refundable }}."
            "{% endblocktranslate %}"
        ).render(Context({"refundable": "¥1.00"}))
        assert rendered == "可退金额：¥1.00。"
    with translation.override("en"):
        assert str(TradeState.SUCCESS.label) == "Paid"


# --- nothing escapes extraction ---------------------------------------------------------------

# gettext functions as makemessages knows them: name -> (context arg, msgid arg, plural arg).
GETTEXT_FUNCTIONS = {
    **dict.fromkeys(("_", "gettext", "gettext_lazy", "gettext_noop"), (None, 0, None)),
    **dict.fromkeys(("ngettext", "ngettext_lazy"), (None, 0, 1)),
    **dict.fromkeys(("pgettext", "pgettext_lazy"), (0, 1, None)),
    **dict.fromkeys(("npgettext", "npgettext_lazy"), (0, 1, 2)),
}


def _sources(*suffixes: str) -> list[Path]:
    return sorted(
        path
        for suffix in suffixes
        for path in PACKAGE.rglob(f"*{suffix}")
        if not NOT_TRANSLATED & set(path.relative_to(PACKAGE).parts)
    )


def python_msgids(path: Path) -> tuple[set[Key], list[str]]:
    """The msgids of a module's gettext calls, and the calls that can never be translated.

    The module is parsed, not pattern-matched, so quotes, escapes, triple quotes and
    implicit concatenation ("a" "b") read exactly as Python reads them. An argument that is
    a name or an expression (``_(label)``) is skipped: its msgid is elsewhere, marked with
    gettext_noop, or it is not ours. An f-string or a string formatted before translation
    (``_("%s" % x)``, ``_("{}".format(x))``) is an error: no catalogue can hold it.
    """
    found: set[Key] = set()
    errors: list[str] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_FUNCTIONS:
            continue
        where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
        literals: list[str | None] = []
        for index in GETTEXT_FUNCTIONS[name]:
            if index is None:
                literals.append(None)
                continue
            arg = node.args[index] if index < len(node.args) else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literals.append(arg.value)
            elif isinstance(arg, ast.JoinedStr | ast.BinOp) or (
                isinstance(arg, ast.Call) and getattr(arg.func, "attr", None) == "format"
            ):
                errors.append(f"{where}: {name}() of a string built at run time")
                break
            else:
                break  # a variable: not a literal we can check
        else:
            context, msgid, _plural = literals
            found.add((context, msgid))
    return found, errors


_QUOTED = r"""(?:"([^"]*)"|'([^']*)')"""
TRANSLATE_TAG = re.compile(r"\{%\s*(?:translate|trans)\s+" + _QUOTED + r"(.*?)%\}", re.S)
TEMPLATE_UNDERSCORE = re.compile(r"_\(\s*" + _QUOTED + r"\s*\)")
BLOCK_TAG = re.compile(
    r"\{%\s*(?:blocktranslate|blocktrans)\b(.*?)%\}(.*?)\{%\s*end(?:blocktranslate|blocktrans)\s*%\}",
    re.S,
)
CONTEXT_OPTION = re.compile(r"\bcontext\s+" + _QUOTED)
VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_msgids(path: Path) -> set[Key]:
    """The msgids of a template, as Django's templatize writes them.

    ``{% translate "..." %}`` and ``_("...")`` give their literal (Django does not unescape
    backslashes there, nor does this); a ``{% translate variable %}`` is skipped.
    ``{% blocktranslate %}`` bodies become msgids with ``{{ var }}`` as ``%(var)s`` and ``%``
    as ``%%``, ``trimmed`` collapsing whitespace, ``{% plural %}`` splitting off the plural.
    """
    text = path.read_text("utf-8")
    found: set[Key] = set()

    def context_of(options: str) -> str | None:
        match = CONTEXT_OPTION.search(options)
        return None if match is None else (match.group(1) or match.group(2) or "")

    for double, single, options in TRANSLATE_TAG.findall(text):
        found.add((context_of(options), double or single))
    for double, single in TEMPLATE_UNDERSCORE.findall(text):
        found.add((None, double or single))
    for options, body in BLOCK_TAG.findall(text):
        singular = re.split(r"\{%\s*plural\s*%\}", body)[0]
        msgid = VARIABLE.sub(r"%(\1)s", singular.replace("%", "%%"))
        if re.search(r"\btrimmed\b", options):
            msgid = trim_whitespace(msgid)
        found.add((context_of(options), msgid))
    return found


def scan() -> tuple[set[Key], list[str]]:
    found: set[Key] = set()
    errors: list[str] = []
    for path in _sources(".py"):
        msgids, problems = python_msgids(path)
        found |= msgids
        errors += problems
    for path in _sources(".html", ".txt"):
        found |= template_msgids(path)
    return found, errors


def test_every_string_in_the_code_is_in_the_catalogue():
    found, errors = scan()
    assert errors == []
    missing = sorted((k for k in found if k not in CATALOGUE), key=str)
    assert missing == [], "not in the catalogue: run makemessages, then translate"


def test_every_msgid_of_the_catalogue_is_still_used():
    """Also proves the scan above reads the code as makemessages does."""
    found, _errors = scan()
    unused = sorted((k for k in CATALOGUE if k not in found), key=str)
    assert unused == [], "no longer in the code: run makemessages to drop them"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_makemessages_finds_nothing_new(tmp_path, monkeypatch):
    """The authority on extraction: makemessages itself, on a copy of the package."""
    copy = tmp_path / "django_wechatpay"
    shutil.copytree(
        PACKAGE,
        copy,
        ignore=shutil.ignore_patterns(*NOT_TRANSLATED, "__pycache__", "*.mo"),
    )
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["zh_Hans"], no_location=True, verbosity=0)
    _header, fresh = parse_po(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    assert sorted(set(fresh) - set(CATALOGUE), key=str) == [], "new strings: run makemessages"
    assert sorted(set(CATALOGUE) - set(fresh), key=str) == [], "gone strings: run makemessages"
