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
    check_transition,
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
        else:
            with pytest.raises(IllegalTransition):
                check_transition(table, "x", current, target)


def test_money_states_are_sticky():
    # Paid orders can only become refunded; closed/refunded orders never move again.
    assert TRADE_TRANSITIONS[TradeState.SUCCESS] == {TradeState.REFUND}
    for final in (TradeState.CLOSED, TradeState.REFUND, TradeState.REVOKED):
        assert TRADE_TRANSITIONS[final] == frozenset()
    for final in (RefundStatus.SUCCESS, RefundStatus.CLOSED, RefundStatus.FAILED):
        assert REFUND_TRANSITIONS[final] == frozenset()
