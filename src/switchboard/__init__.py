"""Switchboard: a contact-center call router for Asterisk."""

__version__ = "0.1.0"
