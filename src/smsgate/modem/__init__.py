"""GSM modems: the AT dialogue (sans-I/O), the driver, and a modem simulator."""
