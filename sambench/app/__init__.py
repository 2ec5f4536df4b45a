"""The application layer: runner, run folder, embedding cache, reporter, CLI and demo. It alone knows core, tasks and datasets."""
