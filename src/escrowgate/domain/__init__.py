"""Pure rules: money, ids, state machines. No I/O here."""
