"""Test and run statuses, and the one home of the rules about them.

Every module that asks "did this fail?", "does `f` rerun it?" or "is it over?"
asks here, so the answer can never differ between the panes, the header, the
`--ci` printer, the GitHub summary and the run history. The values are
`StrEnum`s: they compare equal to the plain strings of the event stream and the
history file.
"""

from __future__ import annotations

from enum import StrEnum


class TestStatus(StrEnum):
    __test__ = False  # not a pytest test class

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    INTERRUPTED = "interrupted"  # the run ended (SIGKILL, cancel) while the test ran


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"  # pytest died or its stream broke
    CANCELLED = "cancelled"  # the user stopped it


# pytest's own outcomes of a finished test, in the order summaries show them.
OUTCOMES: tuple[TestStatus, ...] = (
    TestStatus.PASSED,
    TestStatus.FAILED,
    TestStatus.ERROR,
    TestStatus.SKIPPED,
    TestStatus.XFAILED,
    TestStatus.XPASSED,
)
# Every status a test can be in, in the order counts are kept.
STATUSES: tuple[TestStatus, ...] = tuple(TestStatus)

FAILED: frozenset[str] = frozenset({TestStatus.FAILED, TestStatus.ERROR})
NEEDS_RERUN: frozenset[str] = FAILED | {TestStatus.INTERRUPTED}
FINAL: frozenset[str] = frozenset({*OUTCOMES, TestStatus.INTERRUPTED})
RUN_OVER: frozenset[str] = frozenset(
    {RunStatus.PASSED, RunStatus.FAILED, RunStatus.ABORTED, RunStatus.CANCELLED}
)


def is_failed(status: str) -> bool:
    """A failure or an error: what counts against the run and what "only failures" shows."""
    return status in FAILED


def needs_rerun(status: str) -> bool:
    """What `f` and `--rerun-failed` run again: failures, errors, and a test the run died in."""
    return status in NEEDS_RERUN


def is_final(status: str) -> bool:
    """The test has its outcome (or the run ended under it); nothing will change it this run."""
    return status in FINAL


def collect_report_status(outcome: str) -> TestStatus:
    """What a collect report that did not pass counts as in the run's totals.

    A failed collection (a module that cannot be imported) is an error: its tests never
    ran. Any other (a module skipped at import, `pytest.skip(allow_module_level=True)`)
    is skipped. The plugin counts it when pytest reports it; the runner counts the same
    event when it reads it, so both ends must agree.
    """
    return TestStatus.ERROR if outcome == "failed" else TestStatus.SKIPPED
