"""The SMPP 3.4 server face: ESMEs bind with credentials smsgate issues and submit messages
that enter the same core as the HTTP faces (see docs/smpp-server.md)."""
