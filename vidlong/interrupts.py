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
from contextlib import contextmanager

#: signals that interrupt a run
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


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


def _exit_on_second(reader: socket.socket) -> None:
    """Reads signal numbers from the wakeup socket until it closes; at the second interrupt, exits."""
    seen = 0
    with reader:
        while data := reader.recv(64):
            seen += sum(number in INTERRUPTS for number in data)
            if seen >= 2:
                os.write(2, b"vidlong: interrupted twice; exiting now\n")
                os._exit(130)
