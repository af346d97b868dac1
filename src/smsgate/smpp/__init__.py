"""SMPP 3.4: the PDU codec, short_message coding and delivery receipts, pure functions (no
I/O), for the ESME client channel and the SMSC server face."""
