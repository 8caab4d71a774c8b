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
