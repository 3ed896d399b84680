"""The audit sequencer as the web process runs it: a thread beside the server.

The web layer reaches the database only through services; this is its door to the
sequencer (referral.audit.sequencer).
"""

from referral.audit.sequencer import BackgroundSequencer
from referral.services.uow import Runtime


def background_sequencer(runtime: Runtime, interval_ms: int) -> BackgroundSequencer | None:
    """A sequencer thread for this process (not started), or None when turned off (0)."""
    if interval_ms <= 0:
        return None
    return BackgroundSequencer(
        runtime.session_factory, interval_ms / 1000, lookup=runtime.read_session_factory
    )
