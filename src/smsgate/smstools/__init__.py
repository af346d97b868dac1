"""SMS Server Tools 3 (smsd) spool files, without I/O: their format, the files smsgate writes
for a message, and what the files smsd writes back mean."""
