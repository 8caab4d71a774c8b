"""Process signals of a running server: SIGHUP reloads, SIGTERM drains.

- SIGHUP: reload the model and policy aside (verified, smoke-tested) and swap them in, in a
  worker thread; a failure is logged and the current model keeps serving.
- SIGTERM / SIGINT: readiness turns 503 at once; after TRIAGE_SHUTDOWN_DELAY_S (SIGTERM only: a
  load balancer needs a moment to stop sending traffic) uvicorn stops accepting connections, lets
  requests in flight finish for up to TRIAGE_GRACEFUL_TIMEOUT_S, then the process exits.

Installed by the app's lifespan when it runs in the main thread of a uvicorn process (single
process or one of `--workers N`), chained to uvicorn's own handlers. With `--workers N`, SIGHUP
sent to the supervisor makes uvicorn replace the workers one by one instead (see routes/admin.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Callable

from serving.state import ModelHolder, ReloadError

logger = logging.getLogger("serving.signals")


def can_install() -> bool:
    """Signal handlers can only be installed from the main thread (not under TestClient)."""
    return threading.current_thread() is threading.main_thread()


def install_signal_handlers(
    holder: ModelHolder,
    loop: asyncio.AbstractEventLoop,
    *,
    shutdown_delay_s: float,
    on_reload: Callable[[bool], None] | None = None,
) -> Callable[[], None]:
    """Install the handlers; returns a function that restores the previous ones."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def pass_on(sig: int) -> None:
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        else:  # no uvicorn handler (should not happen): default behaviour
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    def on_exit(sig: int, frame) -> None:
        if holder.draining:  # a second signal: let uvicorn handle it (a second Ctrl-C forces exit)
            pass_on(sig)
            return
        holder.draining = True
        delay = shutdown_delay_s if sig == signal.SIGTERM else 0.0
        logger.info("%s: readiness is off; draining in %.1f s", signal.Signals(sig).name, delay)
        if delay > 0:
            loop.call_soon_threadsafe(loop.call_later, delay, pass_on, sig)
        else:
            pass_on(sig)

    def reload_now() -> None:
        try:
            holder.reload()
        except ReloadError as error:
            logger.error("SIGHUP reload failed, the current model keeps serving: %s", error)
            if on_reload:
                on_reload(False)
            return
        if on_reload:
            on_reload(True)

    def on_hup(sig: int, frame) -> None:
        logger.info("SIGHUP: reloading the model and policy")
        loop.call_soon_threadsafe(loop.run_in_executor, None, reload_now)

    signal.signal(signal.SIGTERM, on_exit)
    signal.signal(signal.SIGINT, on_exit)
    signal.signal(signal.SIGHUP, on_hup)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) in (on_exit, on_hup):
                signal.signal(sig, handler)

    return restore
