"""The audit sequencer as the web process runs it: a thread beside the server.

The web layer reaches the database only through services; this is its door to the
sequencer (referral.audit.sequencer).
"""

from sqlalchemy import Engine

from referral.audit.sequencer import BackgroundSequencer
from referral.db.engine import checkpoint
from referral.services.uow import Runtime


def background_sequencer(runtime: Runtime, interval_ms: int) -> BackgroundSequencer | None:
    """A sequencer thread for this process (not started), or None when turned off (0).

    After each round it also checkpoints a SQLite log (db.engine.checkpoint): a server's
    engine leaves that to this thread, so that no request's commit waits for it.
    """
    if interval_ms <= 0:
        return None
    bind = runtime.session_factory.kw.get("bind")
    engine = bind if isinstance(bind, Engine) else None
    return BackgroundSequencer(
        runtime.session_factory,
        interval_ms / 1000,
        lookup=runtime.read_session_factory,
        after_round=(lambda: checkpoint(engine)) if engine is not None else None,
    )
