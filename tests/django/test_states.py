"""The state machines refuse every transition they do not list."""

from __future__ import annotations

import itertools

import pytest

from django_wechatpay.states import (
    REFUND_TRANSITIONS,
    TRADE_TRANSITIONS,
    IllegalTransition,
    RefundStatus,
    TradeState,
    Verdict,
    check_transition,
    judge,
)


def test_every_state_has_a_row():
    assert set(TRADE_TRANSITIONS) == set(TradeState.values)
    assert set(REFUND_TRANSITIONS) == set(RefundStatus.values)


@pytest.mark.parametrize(
    ("table", "states"), [(TRADE_TRANSITIONS, TradeState), (REFUND_TRANSITIONS, RefundStatus)]
)
def test_transitions(table, states):
    for current, target in itertools.product(states.values, repeat=2):
        if current == target:
            assert check_transition(table, "x", current, target) is False
        elif target in table[current]:
            assert check_transition(table, "x", current, target) is True
        elif judge(table, target, current) is Verdict.APPLY or _leads_to(table, target, current):
            # Reported state is behind ours: a stale report, not a contradiction.
            assert judge(table, current, target) is Verdict.STALE
            assert check_transition(table, "x", current, target) is False
        else:
            with pytest.raises(IllegalTransition):
                check_transition(table, "x", current, target)


def _leads_to(table, start, goal):
    todo, seen = [start], set()
    while todo:
        for nxt in table[todo.pop()]:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def test_stale_and_illegal_examples():
    assert judge(TRADE_TRANSITIONS, "SUCCESS", "NOTPAY") is Verdict.STALE
    assert judge(TRADE_TRANSITIONS, "REFUND", "USERPAYING") is Verdict.STALE
    assert judge(TRADE_TRANSITIONS, "CLOSED", "SUCCESS") is Verdict.ILLEGAL
    assert judge(TRADE_TRANSITIONS, "SUCCESS", "CLOSED") is Verdict.ILLEGAL
    assert judge(REFUND_TRANSITIONS, "SUCCESS", "PROCESSING") is Verdict.STALE
    assert judge(REFUND_TRANSITIONS, "SUCCESS", "CLOSED") is Verdict.ILLEGAL
    assert judge(REFUND_TRANSITIONS, "FAILED", "SUCCESS") is Verdict.ILLEGAL


def test_money_states_are_sticky():
    # Paid orders can only become refunded; closed/refunded orders never move again.
    assert TRADE_TRANSITIONS[TradeState.SUCCESS] == {TradeState.REFUND}
    for final in (TradeState.CLOSED, TradeState.REFUND, TradeState.REVOKED):
        assert TRADE_TRANSITIONS[final] == frozenset()
    for final in (RefundStatus.SUCCESS, RefundStatus.CLOSED, RefundStatus.FAILED):
        assert REFUND_TRANSITIONS[final] == frozenset()
