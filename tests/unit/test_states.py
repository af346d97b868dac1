from __future__ import annotations

from smsgate.core.states import TERMINAL, State, can_move


def test_outbound_paths() -> None:
    assert can_move(State.QUEUED, State.SENT)
    assert can_move(State.QUEUED, State.FAILED)
    assert can_move(State.SENT, State.DELIVERED)
    assert can_move(State.SENT, State.UNDELIVERED)
    assert not can_move(State.SENT, State.FAILED)
    assert not can_move(State.SENT, State.QUEUED)


def test_inbound_paths() -> None:
    assert can_move(State.RECEIVED, State.DELIVERED)
    assert can_move(State.RECEIVED, State.UNDELIVERED)
    assert not can_move(State.RECEIVED, State.SENT)


def test_terminal_states_go_nowhere() -> None:
    for state in TERMINAL:
        assert not any(can_move(state, target) for target in State)
