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
from collections.abc import Callable, Iterable, Iterator, Mapping
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
_TIME_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_ECHO_LIMIT = 40
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


# --- value conversions -------------------------------------------------------------------
# Each takes the text of one value (backtick removed) and raises ValueError with a short
# description of the problem; the caller adds the line and the column.


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


def _yuan_to_fen(value: str) -> int:
    return _scaled(value, 2, "fen")


def _yuan_to_millifen(value: str) -> int:
    return _scaled(value, 5, "millifen (0.00001 yuan)")


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
    convert: Callable[[str], Any]
    required: bool = False


def _required(header: str, attr: str, convert: Callable[[str], Any] = str) -> _Column:
    return _Column(header, attr, convert, required=True)


def _fen(header: str, attr: str) -> _Column:
    return _Column(header, attr, _optional(_yuan_to_fen))


_TRADE_COLUMNS = (
    _required("交易时间", "trade_time", _time),
    _Column("公众账号ID", "appid", _text),
    _required("商户号", "mchid"),
    _Column("特约商户号", "sub_mchid", _reference),
    _Column("设备号", "device_id", _text),
    _required("微信订单号", "transaction_id"),
    _required("商户订单号", "out_trade_no"),
    _Column("用户标识", "openid", _text),
    _Column("交易类型", "trade_type", _text),
    _required("交易状态", "trade_state"),
    _Column("付款银行", "bank_type", _text),
    _Column("货币种类", "currency", _text),
    _fen("应结订单金额", "settlement_total"),
    _fen("代金券金额", "coupon_amount"),
    _Column("退款申请时间", "refund_requested_time", _optional(_time)),
    _Column("退款成功时间", "refund_success_time", _optional(_time)),
    _Column("微信退款单号", "refund_id", _reference),
    _Column("商户退款单号", "out_refund_no", _reference),
    _fen("退款金额", "refund_amount"),
    _fen("充值券退款金额", "recharge_coupon_refund"),
    _Column("退款类型", "refund_type", _text),
    _Column("退款状态", "refund_status", _text),
    _Column("商品名称", "description", _text),
    _Column("商户数据包", "attach", _text),
    _Column("手续费", "fee_millifen", _optional(_yuan_to_millifen)),
    _Column("费率", "rate", _text),
    _fen("订单金额", "order_amount"),
    _fen("申请退款金额", "requested_refund"),
    _Column("费率备注", "rate_note", _text),
)

_TRADE_SUMMARY_COLUMNS = (
    _required("总交易单数", "total_count", _count),
    _fen("应结订单总金额", "settlement_total"),
    _fen("退款总金额", "refund_total"),
    _fen("充值券退款总金额", "recharge_coupon_refund_total"),
    _Column("手续费总金额", "fee_total_millifen", _optional(_yuan_to_millifen)),
    _fen("订单总金额", "order_total"),
    _fen("申请退款总金额", "requested_refund_total"),
)

# Header names are matched after _normalize_header, hence the ASCII parentheses.
_FUNDFLOW_COLUMNS = (
    _required("记账时间", "booked_time", _time),
    _Column("微信支付业务单号", "wechatpay_order_no", _text),
    _required("资金流水单号", "flow_id"),
    _Column("业务名称", "business_name", _text),
    _Column("业务类型", "business_type", _text),
    _required("收支类型", "direction", _direction),
    _required("收支金额(元)", "amount", _yuan_to_fen),
    _required("账户结余(元)", "balance", _yuan_to_fen),
    _Column("资金变更提交申请人", "applicant", _text),
    _Column("备注", "remark", _unescape),
    _Column("业务凭证号", "voucher_no", _unescape),
)

_FUNDFLOW_SUMMARY_COLUMNS = (
    _required("资金流水总笔数", "count", _count),
    _required("收入笔数", "income_count", _count),
    _required("收入金额", "income_amount", _yuan_to_fen),
    _required("支出笔数", "expense_count", _count),
    _required("支出金额", "expense_amount", _yuan_to_fen),
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

    def fields(self, line_no: int, line: str) -> dict[str, Any]:
        if not line.startswith(_BACKTICK):
            raise BillFormatError("expected values prefixed with a backtick", line=line_no)
        values = line[1:].split(_SEPARATOR)
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
                fields[column.attr] = column.convert(value)
            except ValueError as exc:
                raise BillFormatError(str(exc), line=line_no, column=column.header) from None
        if self._extra:
            fields["extra"] = {name: values[i] for i, name in self._extra}
        return fields


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


def _lines(chunks: Iterator[bytes]) -> Iterator[tuple[int, str]]:
    """Numbered lines without their CRLF or LF; a chunk may end anywhere, even mid-character."""
    # utf-8-sig drops the BOM even when it arrives split across chunks.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line_no = 1
    pending = ""
    for chunk in chunks:
        text = _decode(decoder, chunk, line_no)
        if "\n" in text:
            *complete, text = (pending + text).split("\n")
            pending = ""
            for line in complete:
                yield line_no, line.removesuffix("\r")
                line_no += 1
        pending += text
        if len(pending) > _MAX_LINE_CHARS:
            raise BillFormatError("line too long; is this a bill?", line=line_no)
    pending += _decode(decoder, b"", line_no, final=True)
    if pending:
        yield line_no, pending.removesuffix("\r")


def _new_digest(hash_type: str) -> _Digest:
    name = hash_type.replace("-", "").lower()
    try:
        return hashlib.new(name)
    except ValueError:
        raise ValueError(f"unsupported bill hash_type {hash_type!r}") from None


# --- readers -----------------------------------------------------------------------------

RowT = TypeVar("RowT")
SummaryT = TypeVar("SummaryT")


class BillReader(Generic[RowT, SummaryT]):
    """Iterate to get the rows; after the last one, :attr:`summary` and :attr:`digest`.

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
        self._lines = _lines(
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
        if self._started:
            raise RuntimeError("a bill can be read only once")
        self._started = True
        return self._read()

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

    def _read(self) -> Iterator[RowT]:
        try:
            yield from self._parse()
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

    def _parse(self) -> Iterator[RowT]:
        rows: _Layout | None = None
        totals: _Layout | None = None
        line_no = 0
        for line_no, line in self._lines:
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
                yield self._row_type(**rows.fields(line_no, line))
                self.row_count += 1
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
