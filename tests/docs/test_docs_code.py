"""The code of the docs runs: every Python block of every page, in both languages.

Each page's blocks run in order, in one namespace, against the simulator: a Django page
gets a merchant in ``settings.WECHATPAY`` whose notifications reach this test's live
server. What a page takes for granted without showing it (the reader's own client, the
files in the reader's directory) is in :class:`Reader` and :data:`PAGES`, once for both
languages. A ``test_*`` function a page defines also runs as a test of its own, with the
pytest fixtures it names. How blocks are marked: :mod:`tests.docs.blocks` and
CONTRIBUTING.md ("Docs").
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from django_wechatpay import signals
from django_wechatpay.sandbox import MerchantCredentials, Sandbox
from tests.docs.blocks import Action, Block, MarkupError, parse
from tests.pki import KeyPair

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ALL_PAGES = sorted(DOCS.rglob("*.md"))
APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
# The smallest valid PNG: what `logo.png` holds in the reader's directory.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def page_id(path: Path) -> str:
    return str(path.relative_to(DOCS))


def stem(path: Path) -> str:
    """``client`` for client.md and client.zh.md alike."""
    return path.name.split(".")[0]


class Reader:
    """What the reader of a page has at hand, made when a page asks for it."""

    def __init__(self, request: pytest.FixtureRequest, directory: Path) -> None:
        self.request = request
        self.directory = directory

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    @cached_property
    def sandbox(self) -> Sandbox:
        return self.fixture("wechatpay_sandbox")

    @cached_property
    def shop(self) -> Any:
        """The project of the quickstart: a settings merchant on the simulator, whose
        notifications reach this test's live server."""
        from django_wechatpay.merchants import get_merchant, reset_clients

        self.fixture("transactional_db")
        self.fixture("wechatpay_settings")
        live_server, settings = self.fixture("live_server"), self.fixture("settings")
        settings.WECHATPAY = {**settings.WECHATPAY, "NOTIFY_BASE_URL": live_server.url}
        reset_clients()
        return get_merchant()

    @cached_property
    def credentials(self) -> MerchantCredentials:
        return self.fixture("wechatpay_merchant")

    @cached_property
    def client(self) -> Any:
        """The client of client.md, built as it is there, on the simulator."""
        from django_wechatpay.core import WeChatPayClient

        m = self.credentials
        return WeChatPayClient(
            mchid=m.mchid,
            private_key=m.private_key_pem,
            serial_no=m.serial_no,
            apiv3_key=m.apiv3_key,
            appid=m.appid,
            notify_url=self.fixture("wechatpay_notify_receiver").url,
            api_base=m.api_base,
        )

    def partner_shop(self, mchid: str, sub_mchid: str, appid: str) -> Any:
        """partner.md's service provider, in settings and in the simulator."""
        from django_wechatpay.merchants import reset_clients

        self.fixture("transactional_db")
        live_server, settings = self.fixture("live_server"), self.fixture("settings")
        credentials = self.sandbox.create_merchant(
            mchid, partner=True, sub_mchids=[sub_mchid], appids=[appid]
        )
        settings.WECHATPAY = {
            **settings.WECHATPAY,
            "NOTIFY_BASE_URL": live_server.url,
            "MERCHANTS": {mchid: credentials.settings_entry(sub_mchids=[sub_mchid])},
            "DEFAULT_MERCHANT": mchid,
        }
        reset_clients()
        return credentials

    def directory_files(self) -> None:
        """The files a page reads from the reader's directory."""
        keys = KeyPair.generate("docs reader")
        (self.directory / "apiclient_key.pem").write_text(keys.key_pem)
        (self.directory / "apiclient_cert.pem").write_text(keys.cert_pem)
        (self.directory / "logo.png").write_bytes(PNG)

    def pay(self, order: Any) -> None:
        """The payer pays ``order`` on the simulator; its notification is processed."""
        order.refresh_from_db()
        self.sandbox.pay(code_url=order.code_url) if order.code_url else self.sandbox.pay(
            prepay_id=order.prepay_id
        )
        self.sandbox.wait_for_deliveries(1)
        order.refresh_from_db()
        assert order.state == "SUCCESS", order.state

    def deliveries_succeeded(self) -> None:
        """Every receiver the page connected was called, and did not fail."""
        from django_wechatpay.models import EventDelivery

        assert EventDelivery.objects.exists()
        failed = EventDelivery.objects.exclude(status="delivered")
        assert not failed.exists(), [(d.receiver, d.last_error) for d in failed]


class Recorder:
    """Stands for a service the page calls (the reader's warehouse): keeps the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda **kwargs: self.calls.append((name, kwargs))


class PurchaseStandIn:
    """Stands for the reader's ``Purchase`` model: ``objects.filter(...).update(...)``."""

    updates: list[tuple[dict[str, Any], dict[str, Any]]]

    def __init__(self) -> None:
        self.updates = []
        self.objects = self

    def filter(self, **lookup: Any) -> Any:
        updates = self.updates

        class QuerySet:
            def update(self, **values: Any) -> int:
                updates.append((lookup, values))
                return 1

        return QuerySet()


# What each page takes for granted (names in its namespace, set again before each block),
# and what must be true once it has run. Keyed by page stem: both languages share it.
def _quickstart(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    return {}


def _quickstart_done(reader: Reader, names: dict[str, Any]) -> None:
    reader.pay(names["order"])  # on the simulator's page, in the quickstart
    reader.deliveries_succeeded()


def _golive(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    return {}


def _golive_done(reader: Reader, names: dict[str, Any]) -> None:
    refund = names["refund"]  # "SUCCESS when its notification lands"
    reader.sandbox.wait_for_deliveries(2)
    refund.refresh_from_db()
    assert refund.status == "SUCCESS", refund.status


def _fulfilment(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    return {"warehouse": Recorder(), "Purchase": PurchaseStandIn()}


def _fulfilment_done(reader: Reader, names: dict[str, Any]) -> None:
    from django_wechatpay import services
    from django_wechatpay.merchants import get_merchant

    order = services.create_order(
        services.OrderRequest(
            merchant=get_merchant(), trade_type="NATIVE", amount=100, description="QQ公仔"
        )
    )
    reader.pay(order)
    reader.deliveries_succeeded()
    [(name, shipment)] = names["warehouse"].calls
    assert name == "create_shipment"
    assert shipment["order"] == order.out_trade_no
    [(lookup, values)] = names["Purchase"].updates
    assert lookup["order"].pk == order.pk
    assert values["fulfilled_at"] is not None


def _client(reader: Reader) -> dict[str, Any]:
    reader.directory_files()
    return {"client": reader.client, "APIV3_KEY": APIV3_KEY}


def _sandbox(reader: Reader) -> dict[str, Any]:
    reader.directory_files()
    return {"sandbox": reader.sandbox, "client": reader.client, "APIV3_KEY": APIV3_KEY}


def _partner(reader: Reader) -> dict[str, Any]:
    reader.partner_shop("1900000100", "1900000109", "wx8888888888888888")
    return {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}


def _deployment(reader: Reader) -> dict[str, Any]:
    return {}


def _transfers(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    return {}


def _transfers_done(reader: Reader, names: dict[str, Any]) -> None:
    transfer = names["transfer"]
    transfer.refresh_from_db()
    assert transfer.state in ("CANCELING", "CANCELLED"), transfer.state


def _combine(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    return {}


def _combine_done(reader: Reader, names: dict[str, Any]) -> None:
    refund = names["refund"]
    reader.sandbox.wait_for_deliveries(2)
    refund.refresh_from_db()
    assert refund.status == "SUCCESS", refund.status


def _profit_sharing(reader: Reader) -> dict[str, Any]:
    assert reader.shop
    # Sharings, returns and refunds end when the page says so: a notification landing
    # while a block runs would share the test's SQLite connection.
    reader.sandbox.sharing_delay = reader.sandbox.refund_delay = 3600
    return {"sandbox": reader.sandbox}


def _profit_sharing_done(reader: Reader, names: dict[str, Any]) -> None:
    from django_wechatpay.profit_sharing import poll_sharings

    poll_sharings(grace_seconds=0)  # the unfreezing: the merchant's own line is not notified
    unfrozen = names["unfrozen"]
    unfrozen.refresh_from_db()
    assert unfrozen.state == "FINISHED", unfrozen.state
    reader.deliveries_succeeded()


def _finish_sharing(reader: Reader, record: Any) -> None:
    """WeChat Pay ends the sharing (or return) now; its notifications are processed."""
    sandbox = reader.sandbox
    if hasattr(record, "out_return_no"):
        sandbox.finish_sharing_return(record.out_return_no)
    else:
        sandbox.finish_sharing(record.out_order_no)
    sandbox.wait_for(lambda: not any(d.pending for d in sandbox.deliveries()))


PAGES: dict[str, tuple[Callable[[Reader], dict[str, Any]], Callable[..., None] | None]] = {
    "quickstart": (_quickstart, _quickstart_done),
    "golive": (_golive, _golive_done),
    "fulfilment": (_fulfilment, _fulfilment_done),
    "client": (_client, None),
    "sandbox": (_sandbox, None),
    "partner": (_partner, None),
    "deployment": (_deployment, None),
    "combine": (_combine, _combine_done),
    "transfers": (_transfers, _transfers_done),
    "profit-sharing": (_profit_sharing, _profit_sharing_done),
}


def _pay_combine(reader: Reader, names: dict[str, Any]) -> None:
    combine = names["combine"]
    reader.sandbox.pay(code_url=combine.code_url)
    reader.sandbox.wait_for_deliveries(1)
    assert set(combine.sub_orders.values_list("state", flat=True)) == {"SUCCESS"}


ACTIONS: dict[str, Callable[[Reader, dict[str, Any]], None]] = {
    "pay order": lambda reader, names: reader.pay(names["order"]),
    "pay combine": _pay_combine,
    "finish sharing": lambda reader, names: _finish_sharing(reader, names["sharing"]),
    "finish return": lambda reader, names: _finish_sharing(reader, names["back"]),
}


@pytest.fixture
def connected_receivers():
    """Receivers a page connects are gone after it: the next test starts clean."""
    saved = {
        name: list(signal.receivers)
        for name, signal in vars(signals).items()
        if hasattr(signal, "receivers") and hasattr(signal, "sender_receivers_cache")
    }
    yield
    for name, receivers in saved.items():
        signal = getattr(signals, name)
        with signal.lock:
            signal.receivers[:] = receivers
            signal.sender_receivers_cache.clear()


def _has_code_to_run(path: Path) -> bool:
    try:
        return any(isinstance(i, Action) or i.runs for i in parse(path))
    except MarkupError:
        return True  # the run test reports it


RUN_PAGES = [p for p in ALL_PAGES if _has_code_to_run(p)]


def _test_blocks() -> list[tuple[Block, str]]:
    """Blocks that define a pytest test, and its name."""
    found = []
    for path in RUN_PAGES:
        try:
            blocks = [b for b in parse(path) if isinstance(b, Block) and b.runs]
        except MarkupError:
            continue
        for block in blocks:
            try:
                tree = ast.parse(block.code)
            except SyntaxError:
                continue  # test_the_page_code_compiles reports it
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    found.append((block, node.name))
    return found


@pytest.mark.parametrize("path", ALL_PAGES, ids=page_id)
def test_the_page_code_compiles(path):
    """Python compiles (unless it is a fragment), JSON parses."""
    for block in parse(path):
        if isinstance(block, Block) and block.compiles:
            block.compiled()  # a SyntaxError names the page and line
        if isinstance(block, Block) and block.language == "json" and block.marker != "fragment":
            try:
                json.loads(block.code)
            except ValueError as error:
                pytest.fail(f"{block}: not JSON: {error}")


@pytest.mark.parametrize("path", RUN_PAGES, ids=page_id)
def test_the_page_code_runs(
    path, request, tmp_path, monkeypatch, transactional_db, live_server, connected_receivers
):
    # transactional_db and live_server are asked for here, not on demand: pytest-django
    # sets the test database and ALLOWED_HOSTS up only for fixtures a test names.
    """The page's blocks, in order, in one namespace, against the simulator."""
    runnable = [i for i in parse(path) if isinstance(i, Action) or i.runs]
    if stem(path) not in PAGES:
        pytest.fail(
            f"{page_id(path)} has code to run ({runnable[0]}) but no entry in PAGES: say what "
            "the page takes for granted there (an empty dict if nothing)"
        )
    monkeypatch.chdir(tmp_path)
    reader = Reader(request, tmp_path)
    given, done = PAGES[stem(path)]
    context = given(reader)
    names: dict[str, Any] = {"__name__": f"docs.{stem(path)}"}
    for item in runnable:
        if isinstance(item, Action):
            if item.what not in ACTIONS:
                pytest.fail(f"{item}: unknown docs-test action; known: {sorted(ACTIONS)}")
            ACTIONS[item.what](reader, names)
            continue
        names.update(context)
        exec(item.compiled(), names)  # the docs' own code
    if done:
        done(reader, names)


def test_the_markers_are_well_formed():
    """Parsing every page: unknown markers, markers without a reason or a block fail."""
    problems = []
    for path in ALL_PAGES:
        try:
            parse(path)
        except MarkupError as error:
            problems.append(str(error))
    assert not problems, problems


def test_the_parser_refuses_a_marker_it_does_not_know(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- no-run: typo -->\n```python\nx = 1\n```\n")
    with pytest.raises(MarkupError, match="not a marker"):
        parse(page)
    page.write_text("<!-- not-run: -->\n```python\nx = 1\n```\n")
    with pytest.raises(MarkupError, match="say why"):
        parse(page)
    page.write_text("<!-- not-run: settings -->\n\nSome prose.\n\n```python\nx = 1\n```\n")
    with pytest.raises(MarkupError, match="not followed by a code block"):
        parse(page)
    page.write_text("<!-- not-run: a shell -->\n```bash\nls\n```\n")
    with pytest.raises(MarkupError, match="never run anyway"):
        parse(page)


def test_the_parser_reads_blocks_markers_and_actions(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```python\nx = 1\n```\n\n<!-- not-run: settings -->\n\n```python\n"
        "DEBUG = True\n```\n\n<!-- docs-test: pay order -->\n\n1. A list\n\n    ```python\n"
        '    y = 2\n    ```\n\n<!-- fragment: part of a dict -->\n```python\n"a": 1,\n```\n'
    )
    items = parse(page)
    assert [(type(i).__name__, getattr(i, "line", None)) for i in items] == [
        ("Block", 4),
        ("Block", 10),
        ("Action", 13),
        ("Block", 18),
        ("Block", 23),
    ]
    assert [i.runs for i in items if isinstance(i, Block)] == [True, False, True, False]
    assert items[3].code == "y = 2\n"
    assert not items[4].compiles


def test_a_failing_block_names_its_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```python\nx = 1\nraise ValueError('boom')\n```\n")
    [block] = parse(page)
    with pytest.raises(ValueError, match="boom") as error:
        exec(block.compiled(), {})
    frame = error.traceback[-1]
    assert (Path(str(frame.path)).name, frame.lineno + 1) == ("page.md", 5)


def test_chinese_pages_have_their_english_page():
    orphans = [p for p in DOCS.rglob("*.zh.md") if not p.with_name(stem(p) + ".md").exists()]
    assert not orphans
    # The i18n plugin reads page.zh.md; docs/zh/ would be built as English pages.
    assert not list((DOCS / "zh").glob("*.md")), "move docs/zh/PAGE.md to docs/PAGE.zh.md"


@pytest.mark.parametrize(
    ("block", "name"), _test_blocks(), ids=lambda v: str(v) if isinstance(v, Block) else v
)
def test_the_page_tests_pass(block, name, request, transactional_db, live_server):
    """A page's pytest example, run as the test it is: alone, with fresh fixtures."""
    names: dict[str, Any] = {"__name__": f"docs.{stem(block.path)}"}
    exec(block.compiled(), names)  # the docs' own code
    function = names[name]
    function(**{p: request.getfixturevalue(p) for p in inspect.signature(function).parameters})


# Pages still shown in English on the Chinese site: none. A new page goes here only while
# its page.zh.md is being written, and is taken off when it is.
UNTRANSLATED: set[str] = set()


def test_every_page_has_its_chinese_page():
    english = {p.stem for p in DOCS.glob("*.md") if not p.name.endswith(".zh.md")}
    chinese = {stem(p) for p in DOCS.glob("*.zh.md")}
    assert sorted(english - chinese - UNTRANSLATED) == [], "write page.zh.md for these"
    assert sorted(UNTRANSLATED & chinese) == [], "translated: take them off UNTRANSLATED"


def test_every_page_is_in_the_navigation():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(nav):
        for item in nav:
            for value in item.values() if isinstance(item, dict) else [item]:
                yield from pages(value) if isinstance(value, list) else [value]

    listed = set(pages(config["nav"]))
    english = {p.name for p in DOCS.glob("*.md") if not p.name.endswith(".zh.md")}
    assert sorted(english - listed) == []
    assert sorted(listed - english) == []  # the nav names English pages only
