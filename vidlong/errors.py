class VidlongError(Exception):
    """A user-facing error: its message is one line that names the fix."""
