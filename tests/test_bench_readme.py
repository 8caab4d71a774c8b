"""The README's results section is the benchmark's report, written between two markers."""

from __future__ import annotations

import pytest

from training.bench.readme import END, START, ReadmeError, replace_block


def test_the_block_is_replaced_and_the_rest_kept() -> None:
    readme = f"# tool\n\nintro\n\n## Results\n\n{START}\nold figures\n{END}\n\n## Layout\n"
    report = "# tweet-triage benchmark, 2026-11-23\n\nMachine: 2 cores.\n\n## Quality\n\n| a | b |\n"
    updated = replace_block(readme, report)
    assert "old figures" not in updated
    assert updated.startswith("# tool\n\nintro\n\n## Results\n\n")
    assert updated.endswith(f"{END}\n\n## Layout\n")
    assert "Machine: 2 cores." in updated and "### Quality" in updated
    assert "# tweet-triage benchmark" not in updated
    assert replace_block(updated, report) == updated  # idempotent


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ReadmeError, match="no benchmark block"):
        replace_block("# tool\n", "# report\n")


def test_every_bench_section_has_its_entry_point() -> None:
    """`triage bench` imports its sections lazily: a renamed function would only fail at the end
    of a ten-minute run."""
    import inspect

    from training.bench import api_load, run

    source = inspect.getsource(run.run_benchmark)
    assert "run_api_benchmark" in source and callable(api_load.run_api_benchmark)
    assert set(run.SECTIONS) == {"quality", "speed", "memory", "api"}


def test_the_quality_table_shows_every_figure_headline_first() -> None:
    from training.bench.quality import COMPARED, quality_table

    columns = {
        "models/a": {COMPARED[0]: 0.70, "care_val.sentiment.ece": 0.05, "tweeteval_val.sentiment.macro_recall": 0.71},
        "models/b": {COMPARED[0]: 0.72, "care_val.sentiment.ece": 0.03},
        "peer": {COMPARED[0]: 0.50},
    }
    rows = quality_table(columns).splitlines()[2:]
    figures = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert figures == [*COMPARED, "care_val.sentiment.ece", "tweeteval_val.sentiment.macro_recall"]
    assert rows[0] == f"| {COMPARED[0]} | 0.700 | **0.720** | 0.500 | 0.68 |"
    assert rows[len(COMPARED)] == "| care_val.sentiment.ece | 0.050 | **0.030** | — |  |"  # less is better
    assert rows[-1] == "| tweeteval_val.sentiment.macro_recall | 0.710 | — | — |  |"  # one value: nothing to beat
    assert rows[1] == f"| {COMPARED[1]} | — | — | — |  |"

    same = quality_table({"a": {"sentipolc_test.baseline_majority.macro_f1": 0.167}, "b": {"sentipolc_test.baseline_majority.macro_f1": 0.167}})
    assert same.splitlines()[-1] == "| sentipolc_test.baseline_majority.macro_f1 | 0.167 | 0.167 |  |"  # a reference, not a contest
