"""Thrive Learning audiences."""
