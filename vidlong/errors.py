class VidlongError(Exception):
    """A user-facing error: its message is one line that names the fix."""


class Stopped(Exception):
    """A run ended early because its user asked (the app's Stop, a cancelled API call, a closed tab).
    A progress callback raises it; the run undoes what it applied and stops at that point."""
