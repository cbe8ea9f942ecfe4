"""Recorded calls: from an ARI bridge recording to a stored WAV linked from the call's row."""

from .keeper import Job, RecordingKeeper

__all__ = ["Job", "RecordingKeeper"]
