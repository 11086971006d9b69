"""Sending a decided message: render, send, retry, fall back to the other channel; the
channels built from the settings, the consent ledger, and signed reply links."""
