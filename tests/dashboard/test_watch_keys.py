"""`mcp-dashboard --watch --ci` on a real terminal (a pseudo-terminal it holds as its
controlling one): Jest's keys, typed as a person types them, and the terminal left as
it was found."""

from __future__ import annotations

import signal
from pathlib import Path

from mcp_dashboard.watch_ci import KEYS
from tests.dashboard.test_watch import PROJECT, write_project
from tests.dashboard.watch_child import WatchChild
from tests.toolkit import until_sync

ALL = [
    "PASSED tests/sub/test_sub.py::test_sub",
    "PASSED tests/test_core.py::test_core",
    "PASSED tests/test_deep.py::test_deep",
    "PASSED tests/test_helpers.py::test_double",
    "FAILED tests/test_other.py::test_name",
    "PASSED tests/test_other.py::test_other",
]
FAILED = ["FAILED tests/test_other.py::test_name"]
WHOLE_RUN = "1 failed, 5 passed in "  # pytest's closing line of a run of everything


def test_keys_run_failures_again_and_all_and_q_quits_with_status_0(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    with WatchChild(root, tmp_path, terminal=True, NO_COLOR="1") as watch:
        watch.after_run(1)
        assert sorted(watch.runs()[0][1]) == sorted(ALL)
        assert watch.output().count(KEYS) == 1  # the keys, once after the summary
        assert not watch.cooked()  # a key at a time, not echoed

        watch.press(b"f")
        watch.after_run(2)
        assert watch.runs()[1] == ("watch: run 2: rerun of 1 failed test", FAILED)

        watch.press(b"\r")  # Enter, as a terminal sends it
        watch.after_run(3)
        assert watch.runs()[2] == ("watch: run 3: again: rerun of 1 failed test", FAILED)

        watch.press(b"\r")
        watch.after_run(4)
        assert watch.runs()[3] == ("watch: run 4: again: rerun of 1 failed test", FAILED)

        watch.press(b"a")
        watch.after_run(5)
        header, tests = watch.runs()[4]
        assert (header, sorted(tests)) == ("watch: run 5: run all requested", sorted(ALL))
        output = watch.output()
        assert output.count(WHOLE_RUN) == 2  # run 1 and run 5 each printed a whole summary
        assert output.count(KEYS) == 5
        # The keys follow the last summary, after pytest's closing line.
        assert output.rindex(KEYS) > output.rindex(WHOLE_RUN)

        watch.press(b"q")
        # A deliberate quit, not a verdict: 0 though the last run had a failure.
        assert watch.child.wait(timeout=60) == 0
        assert watch.cooked()  # the terminal is given back as it was
    assert len(watch.runs()) == 5


def test_ctrl_c_on_the_terminal_ends_with_the_last_runs_status(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    with WatchChild(root, tmp_path, terminal=True, NO_COLOR="1") as watch:
        watch.after_run(1)
        # Stopped (Ctrl-Z) and continued: the shell set the terminal back to lines meanwhile;
        # the dashboard takes its keys one at a time again.
        watch.child.send_signal(signal.SIGSTOP)
        watch.cook()
        watch.child.send_signal(signal.SIGCONT)
        until_sync(lambda: not watch.cooked(), "cbreak mode again after SIGCONT")
        watch.press(b"x")  # not a key of ours: nothing happens
        watch.save("tests/test_core.py", PROJECT["tests/test_core.py"] + "# saved\n")
        watch.after_run(2)  # the change after it still runs, alone
        assert watch.runs()[1] == (
            "watch: run 2: tests/test_core.py changed; 1 test failed last time",
            ["PASSED tests/test_core.py::test_core", *FAILED],
        )
        watch.press(b"\x03")  # Ctrl-C: the terminal's driver sends SIGINT
        assert watch.child.wait(timeout=60) == 1
        assert watch.cooked()
