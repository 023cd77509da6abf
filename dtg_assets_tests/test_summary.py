"""The terminal summary of ``dtg-run``: a failure is reported by its cause, once."""

from __future__ import annotations

import dagster as dg

from dtg_assets.summary import failure_cause, summarize_runs


@dg.op
def _fails_with_a_failure():
    raise dg.Failure(description="cannot use the data root /x: it is a file; nothing was written")


@dg.op
def _fails_unexpectedly():
    raise KeyError("visitor_events")


def _run(op) -> dg.ExecuteInProcessResult:
    @dg.job(name=f"job{op.name}")
    def job():
        op()

    return job.execute_in_process(raise_on_error=False)


def test_the_cause_of_a_failure_is_its_description_without_dagster_wrappers():
    result = _run(_fails_with_a_failure)
    [step] = [e for e in result.all_events if e.is_step_failure]
    assert failure_cause(step.event_specific_data.error) == (
        "cannot use the data root /x: it is a file; nothing was written"
    )


def test_the_cause_of_an_unexpected_exception_keeps_its_name():
    result = _run(_fails_unexpectedly)
    [step] = [e for e in result.all_events if e.is_step_failure]
    # Dagster wraps it: 'Error occurred while executing op "_fails_unexpectedly":'.
    assert "Error occurred while executing op" in step.event_specific_data.error.message
    assert failure_cause(step.event_specific_data.error) == "KeyError: 'visitor_events'"


def test_the_problem_list_shows_each_cause_once_per_step():
    ok, text = summarize_runs(
        {"historical": _run(_fails_with_a_failure), "live": _run(_fails_unexpectedly)}
    )
    assert not ok
    problems = text.split("Problems:\n", 1)[1].splitlines()
    assert problems == [
        "- historical: cannot use the data root /x: it is a file; nothing was written",
        "- live: KeyError: 'visitor_events'",
    ]
    assert "Error occurred" not in text
