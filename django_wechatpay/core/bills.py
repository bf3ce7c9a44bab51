"""Streaming parsers of WeChat Pay's bill files: trade bills and fund-flow bills (protocol §9).

A bill is a small CSV dialect::

    header row                      names, no backticks
    detail rows                     every value prefixed with one backtick
    summary header row              names, no backticks
    summary row                     every value prefixed with one backtick

:func:`parse_trade_bill` and :func:`parse_fundflow_bill` read it from ``bytes``, a binary
file object or any iterable of ``bytes`` chunks (such as
:meth:`~django_wechatpay.core.client.WeChatPayClient.download`), gzip-compressed or not,
and return a reader that yields typed rows one at a time. Memory stays flat whatever the
size of the bill: only the current chunk and the current line are held.

While the bytes pass, their digest is computed over the *uncompressed* bill, which is
what the ``hash_value`` of the bill API covers (protocol §6.4). It is checked when the
last row has been read, so a caller that writes rows inside a database transaction can
roll back on :class:`BillHashMismatch`.

Units. Amounts of money are integers in fen (分), like everywhere else in APIv3. The fee
(手续费) is written with 5 decimals of yuan, i.e. to 1/1000 fen, so it is an integer in
*millifen* (1 yuan = 100 fen = 100,000 millifen) and its fields say so in their name.
Values are converted from their decimal text exactly; a value that does not fit its unit
is a :class:`BillFormatError`, never silently rounded.

Columns are looked up by header name, not position: the ALL, SUCCESS and REFUND layouts
differ, and some merchants still get legacy column sets. Columns this module does not
know are kept, as text, in each row's ``extra`` mapping.
"""

from __future__ import annotations

import codecs
import enum
import hashlib
import itertools
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal, Inexact
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from .beijing import BEIJING_TZ
from .errors import BillFormatError, BillHashMismatch

__all__ = [
    "BillReader",
    "BillSource",
    "FlowDirection",
    "FundFlowBillReader",
    "FundFlowRow",
    "FundFlowSummary",
    "TradeBillReader",
    "TradeBillRow",
    "TradeBillSummary",
    "TradeBillType",
    "parse_fundflow_bill",
    "parse_trade_bill",
]


_READ_SIZE = 64 * 1024
# A real line is well under 4 KiB (a fund-flow remark is at most 2,048 characters); the
# cap keeps a corrupt stream without line breaks from growing the buffer without bound.
_MAX_LINE_CHARS = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_BACKTICK = "`"
# Every value carries a backtick prefix, so "," followed by a backtick is the real field
# separator: a comma inside a free-text value (商品名称, 商户数据包, 备注) does not split it.
_SEPARATOR = ",`"
_DECIMAL_PARTS = re.compile(r"(-?)([0-9]{1,18})(?:\.([0-9]{1,18}))?")
_EXACT = Context(prec=40, traps=[Inexact])
_TIME_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
_TIME_TEXT = re.compile(_TIME_PATTERN)
_ECHO_LIMIT = 40
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


# --- value conversions -------------------------------------------------------------------
# Each takes the text of one value (backtick removed) and raises ValueError with a short
# description of the problem; the caller adds the line and the column. Their column-wise
# twins (see _Conversion) give the same values for a whole column of many rows at once.


def _echo(value: str) -> str:
    return repr(value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "…")


def _scaled(value: str, places: int, unit: str) -> int:
    # The regex keeps out what Decimal would also accept (exponents, "NaN", "1_000",
    # surrounding blanks) and no bill writes, and bounds the digits so that _EXACT's
    # precision holds any value: scaling never rounds, whatever the thread's context.
    match = _DECIMAL_PARTS.fullmatch(value)
    if match is None:
        raise ValueError(f"{_echo(value)} is not a decimal number")
    sign, whole, fraction = match.groups()
    if fraction is None or len(fraction) <= places:
        # The common case, in integers: a million-row bill has seven amounts a row.
        units = int(whole + (fraction or "").ljust(places, "0"))
        return -units if sign else units
    scaled = Decimal(value).scaleb(places, _EXACT)
    units = int(scaled)
    if units != scaled:
        raise ValueError(f"{_echo(value)} is not a whole number of {unit}")
    return units


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert``, except that an empty value is ``None``."""
    return lambda value: convert(value) if value else None


def _text(value: str) -> str | None:
    return value or None


def _reference(value: str) -> str | None:
    # Ids that do not apply are written as "0" (特约商户号 of a direct merchant, refund
    # numbers on a payment row), sometimes left empty.
    return None if value in ("", "0") else value


def _time(value: str) -> datetime:
    if not _TIME_TEXT.fullmatch(value):
        raise ValueError(f"{_echo(value)} is not a yyyy-MM-dd HH:mm:ss time")
    return datetime.fromisoformat(value).replace(tzinfo=BEIJING_TZ)


def _count(value: str) -> int:
    # Counts are written like amounts ("45.0").
    return _scaled(value, 0, "items")


def _unescape(value: str) -> str | None:
    # Protocol §9.2: the fund-flow bill writes a CR or LF inside 备注 / 业务凭证号 as the
    # two characters "\r" / "\n". (It also turns \x01 into a space, which cannot be undone.)
    return value.replace("\\r", "\r").replace("\\n", "\n") or None


class FlowDirection(enum.Enum):
    """收支类型 of a fund-flow row."""

    INCOME = "income"
    EXPENSE = "expense"


_DIRECTIONS = {"收入": FlowDirection.INCOME, "支出": FlowDirection.EXPENSE}


def _direction(value: str) -> FlowDirection:
    try:
        return _DIRECTIONS[value]
    except KeyError:
        raise ValueError(f"{_echo(value)} is neither 收入 nor 支出") from None


@dataclass(frozen=True)
class _Conversion:
    """How the values of one column become field values.

    ``one`` converts one value. ``many`` converts a column of many rows and returns what
    ``one`` would for each value, raising ``ValueError`` exactly when ``one`` would for
    some value (the reader then goes row by row to name the first bad line); ``check``
    raises as ``many`` does, without building the values (for columns nobody asked
    for). ``check`` is None when ``one`` accepts any text.
    """

    one: Callable[[str], Any]
    many: Callable[[Sequence[str]], list[Any]]
    check: Callable[[Sequence[str]], object] | None


def _one_at_a_time(one: Callable[[str], Any], *, checks: bool = True) -> _Conversion:
    def many(values: Sequence[str]) -> list[Any]:
        return [one(value) for value in values]

    return _Conversion(one, many, many if checks else None)


def _scaled_conversion(places: int, unit: str, *, optional: bool) -> _Conversion:
    def exact(value: str) -> int:
        return _scaled(value, places, unit)

    one = _optional(exact) if optional else exact
    value = rf"-?[0-9]{{1,18}}\.[0-9]{{{places}}}"
    if optional:
        value = f"(?:{value})?"
    column = re.compile(rf"{value}(?:\n{value})*")

    def usual(distinct: set[str]) -> bool:
        # One match checks the column for the way bills write amounts: exactly `places`
        # decimals, so that the digits without the point are the units. Any other
        # spelling ("45.0", "1E+2") goes through `one`, which accepts or refuses it.
        return column.fullmatch("\n".join(distinct)) is not None

    def many(values: Sequence[str]) -> list[Any]:
        # Each distinct value checked and converted once: most are repeated (prices, and
        # the zeros of the refund columns on every payment row).
        distinct = set(values)
        if not usual(distinct):
            return [one(value) for value in values]
        units = {value: int(value.replace(".", "")) if value else None for value in distinct}
        return list(map(units.__getitem__, values))

    def check(values: Sequence[str]) -> None:
        distinct = set(values)
        if not usual(distinct):
            for value in distinct:
                one(value)

    return _Conversion(one, many, check)


_TIME_COLUMN = re.compile(f"{_TIME_PATTERN}(?:\n{_TIME_PATTERN})*")


def _times(values: Sequence[str]) -> list[datetime]:
    # Each distinct time checked and converted once (a busy day has many payments a
    # second, and rows come in time order). fromisoformat still refuses an impossible
    # date, as _time does.
    distinct = set(values)
    if _TIME_COLUMN.fullmatch("\n".join(distinct)) is None:
        return [_time(value) for value in values]
    times = {value: datetime.fromisoformat(value).replace(tzinfo=BEIJING_TZ) for value in distinct}
    return list(map(times.__getitem__, values))


def _each_distinct(one: Callable[[str], Any]) -> Callable[[Sequence[str]], list[Any]]:
    # For columns of few values ("0" for no refund, "" for no sub-merchant, states).
    def many(values: Sequence[str]) -> list[Any]:
        converted = {value: one(value) for value in set(values)}
        return list(map(converted.__getitem__, values))

    return many


_STR = _Conversion(str, list, None)  # required values: the reader refuses ""
_TEXT = _Conversion(_text, _each_distinct(_text), None)
_REFERENCE = _Conversion(_reference, _each_distinct(_reference), None)
_TIME = _Conversion(_time, _times, _times)
_OPTIONAL_TIME = _one_at_a_time(_optional(_time))
_FEN = _scaled_conversion(2, "fen", optional=False)
_OPTIONAL_FEN = _scaled_conversion(2, "fen", optional=True)
_OPTIONAL_MILLIFEN = _scaled_conversion(5, "millifen (0.00001 yuan)", optional=True)
_COUNT = _one_at_a_time(_count)
_DIRECTION = _one_at_a_time(_direction)
_UNESCAPED = _one_at_a_time(_unescape, checks=False)


# --- rows and summaries ------------------------------------------------------------------


def _extra_field() -> Any:
    # Rows are hashable; a mapping is not, so it takes no part in the hash (only in ==).
    # Rows without unknown columns share one empty mapping rather than each owning a dict.
    return field(default_factory=lambda: _NO_EXTRA, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeBillRow:
    """One row of a trade bill (交易账单): a payment, or a refund as initiated that day.

    Amounts are in fen, the fee in millifen (1/1000 fen). A field whose column the bill
    does not have (refund columns in a SUCCESS bill, 应结订单金额 in a legacy one) or whose
    value is empty is ``None``.
    """

    #: 交易时间: payment success time, or refund *initiation* time, in Beijing time.
    trade_time: datetime
    appid: str | None = None
    mchid: str
    #: 特约商户号; ``None`` for a direct merchant (the bill writes ``0``).
    sub_mchid: str | None = None
    device_id: str | None = None
    transaction_id: str
    out_trade_no: str
    openid: str | None = None
    trade_type: str | None = None
    trade_state: str
    bank_type: str | None = None
    currency: str | None = None
    #: 应结订单金额: order amount minus merchant-free (免充值) coupons.
    settlement_total: int | None = None
    coupon_amount: int | None = None
    #: REFUND bills only.
    refund_requested_time: datetime | None = None
    #: REFUND bills only; ``None`` while the refund has not succeeded.
    refund_success_time: datetime | None = None
    #: 微信退款单号; ``None`` on a payment row (the bill writes ``0``).
    refund_id: str | None = None
    out_refund_no: str | None = None
    refund_amount: int | None = None
    recharge_coupon_refund: int | None = None
    refund_type: str | None = None
    refund_status: str | None = None
    #: 商品名称
    description: str | None = None
    #: 商户数据包
    attach: str | None = None
    #: 手续费, in 1/1000 fen; see :attr:`fee`.
    fee_millifen: int | None = None
    #: 费率 as written, e.g. ``"0.60%"``.
    rate: str | None = None
    #: 订单金额
    order_amount: int | None = None
    #: 申请退款金额
    requested_refund: int | None = None
    #: 费率备注
    rate_note: str | None = None
    #: Columns this module does not know, by header name, as text.
    extra: Mapping[str, str] = _extra_field()

    @property
    def fee(self) -> Decimal | None:
        """手续费 in yuan, exactly as the bill wrote it."""
        return None if self.fee_millifen is None else Decimal(self.fee_millifen).scaleb(-5)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeBillSummary:
    """The summary row of a trade bill. Amounts in fen, the fee total in millifen.

    A SUCCESS bill has no refund totals; those fields are then ``None``.
    """

    #: 总交易单数
    total_count: int
    settlement_total: int | None = None
    refund_total: int | None = None
    recharge_coupon_refund_total: int | None = None
    fee_total_millifen: int | None = None
    order_total: int | None = None
    requested_refund_total: int | None = None
    extra: Mapping[str, str] = _extra_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class FundFlowRow:
    """One row of a fund-flow bill (资金账单): a movement of the account's balance.

    ``amount`` is the size of the movement in fen; ``direction`` says which way it went.
    """

    #: 记账时间, Beijing time.
    booked_time: datetime
    #: 微信支付业务单号
    wechatpay_order_no: str | None = None
    #: 资金流水单号
    flow_id: str
    #: 业务名称, e.g. 交易, 退款, 充值/提现.
    business_name: str | None = None
    #: 业务类型, e.g. 交易, 扣除交易手续费, 退款.
    business_type: str | None = None
    direction: FlowDirection
    amount: int
    #: 账户结余 after this movement, in fen.
    balance: int
    #: 资金变更提交申请人, e.g. ``system``, ``API``.
    applicant: str | None = None
    #: 备注, with line breaks restored.
    remark: str | None = None
    #: 业务凭证号 (usually the merchant's order or refund number), line breaks restored.
    voucher_no: str | None = None
    extra: Mapping[str, str] = _extra_field()

    @property
    def signed_amount(self) -> int:
        """The change of the balance in fen: positive for income, negative for expense."""
        return self.amount if self.direction is FlowDirection.INCOME else -self.amount


@dataclass(frozen=True, slots=True, kw_only=True)
class FundFlowSummary:
    """The summary row of a fund-flow bill; amounts in fen."""

    count: int
    income_count: int
    income_amount: int
    expense_count: int
    expense_amount: int
    extra: Mapping[str, str] = _extra_field()


# --- column layouts ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    header: str
    attr: str
    conversion: _Conversion = _TEXT
    required: bool = False


def _required(header: str, attr: str, conversion: _Conversion = _STR) -> _Column:
    return _Column(header, attr, conversion, required=True)


def _fen(header: str, attr: str) -> _Column:
    return _Column(header, attr, _OPTIONAL_FEN)


_TRADE_COLUMNS = (
    _required("交易时间", "trade_time", _TIME),
    _Column("公众账号ID", "appid"),
    _required("商户号", "mchid"),
    _Column("特约商户号", "sub_mchid", _REFERENCE),
    _Column("设备号", "device_id"),
    _required("微信订单号", "transaction_id"),
    _required("商户订单号", "out_trade_no"),
    _Column("用户标识", "openid"),
    _Column("交易类型", "trade_type"),
    _required("交易状态", "trade_state"),
    _Column("付款银行", "bank_type"),
    _Column("货币种类", "currency"),
    _fen("应结订单金额", "settlement_total"),
    _fen("代金券金额", "coupon_amount"),
    _Column("退款申请时间", "refund_requested_time", _OPTIONAL_TIME),
    _Column("退款成功时间", "refund_success_time", _OPTIONAL_TIME),
    _Column("微信退款单号", "refund_id", _REFERENCE),
    _Column("商户退款单号", "out_refund_no", _REFERENCE),
    _fen("退款金额", "refund_amount"),
    _fen("充值券退款金额", "recharge_coupon_refund"),
    _Column("退款类型", "refund_type"),
    _Column("退款状态", "refund_status"),
    _Column("商品名称", "description"),
    _Column("商户数据包", "attach"),
    _Column("手续费", "fee_millifen", _OPTIONAL_MILLIFEN),
    _Column("费率", "rate"),
    _fen("订单金额", "order_amount"),
    _fen("申请退款金额", "requested_refund"),
    _Column("费率备注", "rate_note"),
)

_TRADE_SUMMARY_COLUMNS = (
    _required("总交易单数", "total_count", _COUNT),
    _fen("应结订单总金额", "settlement_total"),
    _fen("退款总金额", "refund_total"),
    _fen("充值券退款总金额", "recharge_coupon_refund_total"),
    _Column("手续费总金额", "fee_total_millifen", _OPTIONAL_MILLIFEN),
    _fen("订单总金额", "order_total"),
    _fen("申请退款总金额", "requested_refund_total"),
)

# Header names are matched after _normalize_header, hence the ASCII parentheses.
_FUNDFLOW_COLUMNS = (
    _required("记账时间", "booked_time", _TIME),
    _Column("微信支付业务单号", "wechatpay_order_no"),
    _required("资金流水单号", "flow_id"),
    _Column("业务名称", "business_name"),
    _Column("业务类型", "business_type"),
    _required("收支类型", "direction", _DIRECTION),
    _required("收支金额(元)", "amount", _FEN),
    _required("账户结余(元)", "balance", _FEN),
    _Column("资金变更提交申请人", "applicant"),
    _Column("备注", "remark", _UNESCAPED),
    _Column("业务凭证号", "voucher_no", _UNESCAPED),
)

_FUNDFLOW_SUMMARY_COLUMNS = (
    _required("资金流水总笔数", "count", _COUNT),
    _required("收入笔数", "income_count", _COUNT),
    _required("收入金额", "income_amount", _FEN),
    _required("支出笔数", "expense_count", _COUNT),
    _required("支出金额", "expense_amount", _FEN),
)


def _normalize_header(name: str) -> str:
    # The fund-flow header is documented with full-width parentheses, and rendered with
    # ASCII ones elsewhere (protocol §9.2, unconfirmed which the file uses): accept both.
    return name.strip().replace("（", "(").replace("）", ")")


class _Layout:
    """A header row bound to the columns we know: turns a row's values into field values."""

    def __init__(self, line_no: int, line: str, columns: tuple[_Column, ...]) -> None:
        names = [_normalize_header(name) for name in line.split(",")]
        known = {column.header: column for column in columns}
        missing = [c.header for c in columns if c.required and c.header not in names]
        if missing:
            raise BillFormatError(
                f"expected a header with the columns {', '.join(missing)}", line=line_no
            )
        if len(set(names)) != len(names):
            raise BillFormatError("the header names a column twice", line=line_no)
        self.names = tuple(names)
        self._bound = [(i, known[name]) for i, name in enumerate(names) if name in known]
        self._extra = [(i, name) for i, name in enumerate(names) if name not in known]
        self._plans: dict[tuple[str, ...], list[tuple[int, _Column]]] = {}

    def fields(self, line_no: int, line: str) -> dict[str, Any]:
        if not line.startswith(_BACKTICK):
            raise BillFormatError("expected values prefixed with a backtick", line=line_no)
        values = line[1:].removesuffix("\r").split(_SEPARATOR)
        if len(values) != len(self.names):
            raise BillFormatError(
                f"{len(values)} values where the header has {len(self.names)} columns",
                line=line_no,
            )
        # Columns the header lacks keep the dataclass default, None.
        fields: dict[str, Any] = {}
        for i, column in self._bound:
            value = values[i]
            try:
                if column.required and not value:
                    raise ValueError("empty, but required")
                fields[column.attr] = column.conversion.one(value)
            except ValueError as exc:
                raise BillFormatError(str(exc), line=line_no, column=column.header) from None
        if self._extra:
            fields["extra"] = {name: values[i] for i, name in self._extra}
        return fields

    def values(
        self, line_no: int, lines: Sequence[str], picks: tuple[str, ...]
    ) -> list[tuple[Any, ...]]:
        """The fields ``picks`` of value lines, a tuple a line: what :meth:`fields` gives,
        and refuses, but converted a column at a time instead of a value at a time."""
        plan = self._plans.get(picks)
        if plan is None:
            # Every column that can refuse a value is checked, asked for or not.
            plan = [
                (i, c)
                for i, c in self._bound
                if c.attr in picks or c.required or c.conversion.check
            ]
            self._plans[picks] = plan
        width = len(self.names)
        if set(map(str.count, lines, itertools.repeat(_SEPARATOR))) != {width - 1}:
            return self._one_by_one(line_no, lines, picks)
        # Every line has `width` values and starts with a backtick: joined with commas, the
        # lines make one run of values, split at once; column i is every width-th from i.
        # (The csv module would split a 商品名称 with a comma in it; this split is C too.)
        values = ",".join(lines)[1:].split(_SEPARATOR)
        converted: dict[str, list[Any]] = {}
        try:
            for i, column in plan:
                column_values = values[i::width]
                if i == width - 1:  # the CR of each line's CRLF
                    column_values = [value.removesuffix("\r") for value in column_values]
                if column.required and "" in column_values:
                    raise ValueError("empty, but required")
                if column.attr in picks:
                    converted[column.attr] = column.conversion.many(column_values)
                elif column.conversion.check:
                    column.conversion.check(column_values)
        except ValueError:
            # Some value is refused: reading row by row names its line and column.
            return self._one_by_one(line_no, lines, picks)
        count = len(lines)
        picked = (converted.get(attr, itertools.repeat(None, count)) for attr in picks)
        return list(zip(*picked, strict=True))

    def _one_by_one(
        self, line_no: int, lines: Sequence[str], picks: tuple[str, ...]
    ) -> list[tuple[Any, ...]]:
        result = []
        for offset, line in enumerate(lines):
            fields = self.fields(line_no + offset, line)
            # A column the header lacks is None, as the row's default.
            result.append(tuple(fields.get(attr) for attr in picks))
        return result


# --- bytes to lines ----------------------------------------------------------------------


@runtime_checkable
class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: What the parsers read: the whole bill, a binary file object, or an iterable of chunks.
BillSource = bytes | bytearray | memoryview | _Readable | Iterable[bytes]


def _chunks(source: BillSource) -> Iterator[bytes]:
    """The source in pieces of at most _READ_SIZE bytes, however it comes."""
    if isinstance(source, str):
        raise TypeError("a bill is read as bytes, not str")
    if isinstance(source, (bytes, bytearray, memoryview)):
        chunks: Iterable[bytes | bytearray | memoryview] = (source,)
    elif isinstance(source, _Readable):
        chunks = iter(lambda: source.read(_READ_SIZE), b"")
    else:
        chunks = source
    for chunk in chunks:
        # Cut big chunks (a whole bill in memory) so that decoding stays chunk-sized too.
        view = memoryview(chunk)
        for start in range(0, len(view), _READ_SIZE):
            yield bytes(view[start : start + _READ_SIZE])


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # Output is capped per call so that a highly compressed stream cannot balloon memory.
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        for chunk in chunks:
            pending = chunk
            while pending:
                if inflater.eof:  # A gzip file may hold several members back to back.
                    inflater = zlib.decompressobj(_GZIP_WBITS)
                output = inflater.decompress(pending, _READ_SIZE)
                if output:
                    yield output
                pending = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    except zlib.error as exc:
        raise BillFormatError(f"the gzip stream is corrupt ({exc})") from None
    if not inflater.eof:
        raise BillFormatError("the gzip stream ends early: the download is truncated")


def _uncompressed(chunks: Iterator[bytes], gzipped: bool | None) -> Iterator[bytes]:
    head = b""
    if gzipped is None:
        # A plain bill starts with a BOM or a Chinese header, never with the gzip magic.
        for chunk in chunks:
            head += chunk
            if len(head) >= len(_GZIP_MAGIC):
                break
        gzipped = head.startswith(_GZIP_MAGIC)
    if head:
        chunks = itertools.chain((head,), chunks)
    yield from _gunzip(chunks) if gzipped else chunks


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _hashed(chunks: Iterator[bytes], digest: _Digest) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _decode(
    decoder: codecs.IncrementalDecoder, chunk: bytes, line_no: int, *, final: bool = False
) -> str:
    try:
        return decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        # exc.object is what was decoded (bytes held back from the last chunk, then this
        # one); each line break before the bad byte ends a line that is not yet counted.
        line_no += exc.object[: exc.start].count(b"\n")
        raise BillFormatError("not valid UTF-8", line=line_no) from None


def _line_blocks(chunks: Iterator[bytes]) -> Iterator[tuple[int, list[str]]]:
    """The lines each chunk completes, without their LF, and the number of the first; a
    chunk may end anywhere, even mid-character.

    The CR of a CRLF stays: it is the end of the line's last value, which is where the
    layout takes it off (a row's last value is often not even read).
    """
    # utf-8-sig drops the BOM even when it arrives split across chunks.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line_no = 1
    pending = ""
    for chunk in chunks:
        text = _decode(decoder, chunk, line_no)
        if "\n" in text:
            *complete, text = (pending + text).split("\n")
            pending = ""
            yield line_no, complete
            line_no += len(complete)
        pending += text
        if len(pending) > _MAX_LINE_CHARS:
            raise BillFormatError("line too long; is this a bill?", line=line_no)
    pending += _decode(decoder, b"", line_no, final=True)
    if pending:
        yield line_no, [pending]


def _new_digest(hash_type: str) -> _Digest:
    name = hash_type.replace("-", "").lower()
    try:
        return hashlib.new(name)
    except ValueError:
        raise ValueError(f"unsupported bill hash_type {hash_type!r}") from None


# --- readers -----------------------------------------------------------------------------

RowT = TypeVar("RowT")
SummaryT = TypeVar("SummaryT")
_OutT = TypeVar("_OutT")


class BillReader(Generic[RowT, SummaryT]):
    """Iterate to get the rows; after the last one, :attr:`summary` and :attr:`digest`.

    :meth:`batches` reads the same rows as tuples of the fields asked for, lists of them
    at a time, with the same checks and errors, several times faster.

    Nothing is read before iteration starts, and a bill can be iterated only once. The
    digest is checked once the whole download has been read, and before any complaint
    about the format: a bill whose download was truncated or altered raises
    :class:`BillHashMismatch` (retry) rather than :class:`BillFormatError` (do not). A
    caller that stops iterating early gets no digest check.
    """

    _row_columns: ClassVar[tuple[_Column, ...]]
    _summary_columns: ClassVar[tuple[_Column, ...]]
    _row_type: ClassVar[Callable[..., Any]]
    _summary_type: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        source: BillSource,
        *,
        expected_hash: str | None = None,
        hash_type: str = "SHA1",
        gzipped: bool | None = None,
    ) -> None:
        self.hash_type = hash_type
        self.expected_hash = expected_hash.lower() if expected_hash else None
        self._digest = _new_digest(hash_type)
        self._source_exhausted = False
        self._blocks = _line_blocks(
            _hashed(_uncompressed(self._watch_end(_chunks(source)), gzipped), self._digest)
        )
        self._started = False
        self._finished = False
        self._summary: SummaryT | None = None
        #: The detail header's column names (parentheses normalized to ASCII), once read.
        self.columns: tuple[str, ...] = ()
        #: Detail rows yielded so far.
        self.row_count = 0

    def __iter__(self) -> Iterator[RowT]:
        self._start()
        return self._read(self._parse(self._rows))

    def batches(self, fields: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
        """Read the bill as lists of tuples of ``fields`` (row attribute names), one tuple a
        detail row, in order; a list holds the rows of one piece of the download.

        The values are those of the rows' attributes, a bill is refused with the same
        error at the same line, and the digest is checked as when iterating rows; but no
        row object is built, and values are converted a column at a time. For readers that
        need a few fields of every row of big bills (reconciliation).
        """
        picks = tuple(fields)
        known = {column.attr for column in self._row_columns}
        unknown = [name for name in picks if name not in known]
        if unknown:
            raise ValueError(f"no such row fields: {', '.join(unknown)}")
        self._start()

        def batch(layout: _Layout, line_no: int, lines: list[str]) -> Iterator[Any]:
            values = layout.values(line_no, lines, picks)
            self.row_count += len(values)
            yield values

        return self._read(self._parse(batch))

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a bill can be read only once")
        self._started = True

    def _rows(self, layout: _Layout, line_no: int, lines: list[str]) -> Iterator[RowT]:
        for offset, line in enumerate(lines):
            yield self._row_type(**layout.fields(line_no + offset, line))
            self.row_count += 1

    @property
    def summary(self) -> SummaryT:
        """The summary row; available once iteration has finished."""
        self._require_finished()
        assert self._summary is not None
        return self._summary

    @property
    def digest(self) -> str:
        """Hex digest (``hash_type``) of the uncompressed bill, once iteration has finished."""
        self._require_finished()
        return self._digest.hexdigest()

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("the bill has not been read to its end yet")

    def _watch_end(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield from chunks
        self._source_exhausted = True

    def _verify_digest(self, cause: BillFormatError | None = None) -> None:
        actual = self._digest.hexdigest()
        if self.expected_hash is not None and actual != self.expected_hash:
            raise BillHashMismatch(
                hash_type=self.hash_type, expected=self.expected_hash, actual=actual
            ) from cause

    def _read(self, parsed: Iterator[_OutT]) -> Iterator[_OutT]:
        try:
            yield from parsed
        except BillFormatError as error:
            # Errors at the very end (truncated gzip, a cut UTF-8 character, no summary)
            # are what a broken download looks like; the digest tells which it is.
            if self._source_exhausted:
                self._verify_digest(error)
            raise
        self._verify_digest()
        self._finished = True

    def _on_header(self, layout: _Layout) -> None:
        """Hook for what a bill type learns from its header."""

    def _parse(
        self, details: Callable[[_Layout, int, list[str]], Iterable[_OutT]]
    ) -> Iterator[_OutT]:
        """The bill's structure; each run of consecutive value lines that one piece of the
        download completes goes to ``details`` (the layout, its first line's number, the
        lines)."""
        rows: _Layout | None = None
        totals: _Layout | None = None
        line_no = 0
        for first_no, lines in self._blocks:
            index, count = 0, len(lines)
            while index < count:
                line_no, line = first_no + index, lines[index]
                index += 1
                if self._summary is not None:
                    if line.strip():
                        raise BillFormatError("data after the summary row", line=line_no)
                elif rows is None:
                    if line.startswith(_BACKTICK):
                        raise BillFormatError("expected the header, found values", line=line_no)
                    rows = _Layout(line_no, line, self._row_columns)
                    self.columns = rows.names
                    self._on_header(rows)
                elif totals is None and line.startswith(_BACKTICK):
                    start = index - 1
                    while index < count and lines[index].startswith(_BACKTICK):
                        index += 1
                    yield from details(rows, line_no, lines[start:index])
                    line_no = first_no + index - 1
                elif totals is None:
                    totals = _Layout(line_no, line, self._summary_columns)
                else:
                    self._summary = self._summary_type(**totals.fields(line_no, line))
        if self._summary is None:
            missing = (
                "header" if rows is None else "summary header" if totals is None else "summary"
            )
            raise BillFormatError(f"the bill ends without its {missing} row", line=line_no + 1)


class TradeBillType(enum.Enum):
    """Which trade bill a header belongs to (the ``bill_type`` it was requested with)."""

    ALL = "ALL"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"


class TradeBillReader(BillReader[TradeBillRow, TradeBillSummary]):
    """Rows of a trade bill (交易账单); see :func:`parse_trade_bill`."""

    _row_columns = _TRADE_COLUMNS
    _summary_columns = _TRADE_SUMMARY_COLUMNS
    _row_type = TradeBillRow
    _summary_type = TradeBillSummary

    #: Inferred from the header once iteration has started: REFUND bills alone have
    #: 退款申请时间, SUCCESS bills alone have no refund columns.
    bill_type: TradeBillType | None = None

    def _on_header(self, layout: _Layout) -> None:
        if "退款申请时间" in layout.names:
            self.bill_type = TradeBillType.REFUND
        elif "微信退款单号" in layout.names:
            self.bill_type = TradeBillType.ALL
        else:
            self.bill_type = TradeBillType.SUCCESS


class FundFlowBillReader(BillReader[FundFlowRow, FundFlowSummary]):
    """Rows of a fund-flow bill (资金账单); see :func:`parse_fundflow_bill`."""

    _row_columns = _FUNDFLOW_COLUMNS
    _summary_columns = _FUNDFLOW_SUMMARY_COLUMNS
    _row_type = FundFlowRow
    _summary_type = FundFlowSummary


def parse_trade_bill(
    source: BillSource,
    *,
    expected_hash: str | None = None,
    hash_type: str = "SHA1",
    gzipped: bool | None = None,
) -> TradeBillReader:
    """Read a trade bill (交易账单) of any type (ALL, SUCCESS, REFUND) lazily.

    ``expected_hash``/``hash_type`` are the bill API's ``hash_value``/``hash_type``;
    ``gzipped=None`` detects gzip (``tar_type=GZIP``) by its magic bytes.

    ::

        reader = parse_trade_bill(client.download(url), expected_hash=answer["hash_value"])
        with transaction.atomic():
            for row in reader:
                ...
        reader.summary.total_count
    """
    return TradeBillReader(
        source, expected_hash=expected_hash, hash_type=hash_type, gzipped=gzipped
    )


def parse_fundflow_bill(
    source: BillSource,
    *,
    expected_hash: str | None = None,
    hash_type: str = "SHA1",
    gzipped: bool | None = None,
) -> FundFlowBillReader:
    """Read a fund-flow bill (资金账单) lazily; arguments as for :func:`parse_trade_bill`."""
    return FundFlowBillReader(
        source, expected_hash=expected_hash, hash_type=hash_type, gzipped=gzipped
    )
