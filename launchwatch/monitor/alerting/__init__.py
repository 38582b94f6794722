"""Notifications: which channels hear of an incident, when, with what message, delivered from an outbox."""
