"""One module per scenario; each has `run(bench) -> Outcome`."""
