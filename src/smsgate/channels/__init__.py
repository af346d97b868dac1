"""Channels (south): every way smsgate reaches a handset network, behind one interface."""
