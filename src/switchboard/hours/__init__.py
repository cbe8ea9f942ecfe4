"""Business hours: calendars and the pure functions that read them."""

from .calendar import Calendar, DayState, Hours, is_open, next_change, state_at

__all__ = ["Calendar", "DayState", "Hours", "is_open", "next_change", "state_at"]
