"""Business hours: calendars, the pure functions that read them, and (``parse``) how
they are parsed from a flow file's ``calendars:``."""

from .calendar import Calendar, DayState, Hours, is_open, next_change, state_at

__all__ = ["Calendar", "DayState", "Hours", "is_open", "next_change", "state_at"]
