"""How the command line is interrupted: SIGTERM as Ctrl-C, and a second signal that exits at once.

Python runs a signal's handler only between bytecodes, so while the main thread sits inside one long
tensor operation (a huge attention product on the CPU can take minutes), Ctrl-C does nothing until the
operation returns. `interrupt_handling` makes a second Ctrl-C or SIGTERM end the process at once: the
C-level handler writes every signal to a wakeup socket (`signal.set_wakeup_fd`), and a daemon thread
that reads it calls `os._exit(130)` on the second. That gives up whatever cleanup the first interrupt
started: a stream's mp4 is still finished by its own ffmpeg process from the frames already sent
(`vidlong.video_io`), and no partial file takes an output's name (atomic writes leave only hidden temp
files, which the next run to the same output sweeps), but a stream's ``.json`` sidecar and
``--save-latents`` file, written after the first interrupt, may be missing.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from contextlib import contextmanager

#: signals that interrupt a run
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
#: seconds within which a repeat of the same signal is one delivery, not a second interrupt (faster
#: than a person presses Ctrl-C twice)
SAME_DELIVERY = 0.1


@contextmanager
def interrupt_handling():
    """Within it, SIGTERM ends a run as Ctrl-C does (KeyboardInterrupt: streams keep their finished
    chunks, temp files are removed) and a second Ctrl-C or SIGTERM exits at once with code 130.
    Everything is restored on exit. Off the main thread, where signals cannot be set, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=_exit_on_second, args=(reader,), name="vidlong-second-interrupt", daemon=True).start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous_term is None else previous_term)
        writer.close()  # the watching thread reads the end of the socket and returns


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def deferred_interrupts():
    """Within it, a first Ctrl-C or SIGTERM waits for the body to end, then interrupts (KeyboardInterrupt as it leaves):
    for a body that must not stop half-way, as a stream's chunk being written to its mp4, which with half its frames
    would no longer match its sidecar and latents. A second still exits at once (`interrupt_handling`). Off the main
    thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum)) for number in INTERRUPTS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


def _exit_on_second(reader: socket.socket, clock=time.monotonic) -> None:
    """Reads signal numbers from the wakeup socket until it closes; at the second interrupt, exits. A
    signal that repeats the previous one within `SAME_DELIVERY` seconds (of `clock`) counts once:
    `timeout` and process-group kills send SIGTERM to the process and again to its group."""
    seen, last = 0, None  # interrupts counted; (number, time) of the last one
    with reader:
        while data := reader.recv(64):
            now = clock()
            for number in data:
                if number not in INTERRUPTS or (last is not None and last[0] == number and now - last[1] < SAME_DELIVERY):
                    continue
                seen, last = seen + 1, (number, now)
            if seen >= 2:
                os.write(2, b"vidlong: interrupted twice; exiting now\n")
                os._exit(130)
