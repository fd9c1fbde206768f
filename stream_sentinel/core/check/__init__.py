"""Checking one message: codecs, compiled validators, explanation, annotation/redaction, violations and drift events."""
