"""cogkit.runtime.child's pieces on their own: cancel bookkeeping and argv, without a child process."""

from __future__ import annotations

import io
import signal

import pytest

from cogkit.runtime.child import CancelState, ChildArgs, _close_files, _error_text, _exit_error


class Canceled(Exception):
    pass


def test_a_cancel_that_overtakes_its_predict_is_honoured_when_it_starts() -> None:
    state = CancelState(Canceled)
    state.request(1)  # arrived on the cancel channel before Predict seq 1
    state.begin(1)
    with pytest.raises(Canceled):
        state.enter()
    state.end()
    assert state.requested == set() and state.current == -1


def test_a_stale_cancel_never_hits_a_later_prediction() -> None:
    state = CancelState(Canceled)
    state.begin(1)
    state.end()
    state.request(1)  # crossed seq 1's Done
    assert state.requested == set()
    state.begin(2)
    state.enter()  # does not raise
    state.leave()
    state.end()


def test_the_signal_interrupts_only_inside_user_code(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(signal, "pthread_kill", lambda ident, sig: sent.append(sig))
    state = CancelState(Canceled)
    state.begin(7)
    state.request(7)  # running now: the main thread is signalled
    assert sent == [signal.SIGUSR1]
    state.on_signal(signal.SIGUSR1, None)  # outside user code (e.g. sending a chunk): no raise
    with pytest.raises(Canceled):
        state.enter()  # ... but the next entry into user code raises
    state.end()
    state.begin(8)
    state.requested.add(8)
    state.in_user_code = True
    with pytest.raises(Canceled):
        state.on_signal(signal.SIGUSR1, None)
    # still in user code (a handler of the first cancel): a repeated cancel raises again, as in Cog
    with pytest.raises(Canceled):
        state.on_signal(signal.SIGUSR1, None)
    state.leave()
    state.on_signal(signal.SIGUSR1, None)  # back in the runtime: never raised there


def test_child_args_need_the_fds_and_the_ref() -> None:
    args = ChildArgs(["--data-fd", "3", "--cancel-fd", "4", "--ref", "p.py:P", "--mode", "train"])
    assert (args.data_fd, args.cancel_fd, args.ref) == (3, 4, "p.py:P")
    assert (args.mode, args.concurrency) == ("train", 1)
    for bad in (["--data-fd", "3"], ["--data-fd", "3", "--cancel-fd", "4", "--ref", "x", "--what", "1"],
                ["--data-fd", "3", "--cancel-fd"]):
        with pytest.raises(SystemExit, match="usage"):
            ChildArgs(bad)


def test_file_inputs_are_closed_after_a_prediction() -> None:
    one, two = io.BytesIO(b"a"), io.BytesIO(b"b")
    _close_files({"f": one, "fs": [two, "not a file"], "n": 3})
    assert one.closed and two.closed


def test_error_texts() -> None:
    assert _error_text(ValueError("bad value")) == "bad value"
    assert _error_text(KeyError()) == "KeyError"
    assert _exit_error("predict", SystemExit(2)) == "Prediction failed: SystemExit: 2"
    assert _exit_error("train", SystemExit()) == "Training failed: SystemExit: "
