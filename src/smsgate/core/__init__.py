"""The domain: messages, their state machine, and the use cases (accept, dispatch, record,
notify)."""
