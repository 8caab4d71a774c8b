"""Training, evaluation, reports and the `triage` command line."""
