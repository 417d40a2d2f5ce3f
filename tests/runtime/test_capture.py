"""cogkit.runtime.capture: fd-level output arrives as whole lines, in a real process with real pipes.

The capture dup2s fds 1 and 2, so each case runs in its own interpreter (pytest keeps its own fds)
and reports what its sink saw, with the seconds since the write, on the original stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from cogkit.runtime.capture import MAX_PARTIAL_LINE, split_lines

HARNESS = """
import json, os, sys, time
from cogkit.runtime.capture import OutputCapture
seen = []
start = time.monotonic()
capture = OutputCapture(lambda text, source: seen.append((text, source, time.monotonic() - start)))
report = os.fdopen(capture.original_stderr_fd, "w")
"""


def _run(body: str) -> list[list]:
    script = HARNESS + textwrap.dedent(body) + "\nreport.write(json.dumps(seen)); report.flush()\n"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # as in every image: print() is two writes
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr)


def test_split_lines_keeps_the_unfinished_end() -> None:
    assert split_lines("a\nb") == ("a\n", "b")
    assert split_lines("50%\r60") == ("50%\r", "60")
    assert split_lines("no end") == ("", "no end")
    long = "x" * MAX_PARTIAL_LINE
    assert split_lines(long) == (long, "")


def test_a_line_written_in_pieces_is_one_frame() -> None:
    seen = _run("""
        import cogkit.runtime.capture
        cogkit.runtime.capture.PARTIAL_LINE_WAIT = 5.0  # a loaded machine may stall a writer for 50 ms
        for i in range(50):
            os.write(1, b"item ")
            time.sleep(0.002)  # the pump wakes between the pieces, as it does under load
            os.write(1, b"%d\\n" % i)
        print("via", "print")  # PYTHONUNBUFFERED: "via print" and "\\n" are separate writes
        time.sleep(0.2)
        capture.drain()
    """)
    texts = [text for text, _source, _t in seen]
    assert "".join(texts) == "".join(f"item {i}\n" for i in range(50)) + "via print\n"
    assert all(text.endswith("\n") for text in texts), texts


def test_an_unfinished_line_goes_out_after_a_short_wait_and_drain_sends_the_rest() -> None:
    seen = _run("""
        os.write(1, b"prompt> ")
        time.sleep(1.0)
        sys.stderr.write("tail without end")
        capture.drain()
    """)
    texts = [(text, source) for text, source, _t in seen]
    assert texts == [("prompt> ", "stdout"), ("tail without end", "stderr")]
    assert seen[0][2] < 0.8, "the unfinished line waited for the next write instead of ~50 ms"
