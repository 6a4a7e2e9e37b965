"""Build tooling for the Lambda assets: bundling with pip on the host (no Docker), hash-pinned lock files and
bytecode. Runs at synth; deploys nothing."""
