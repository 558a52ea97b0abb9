"""Command-line tools: export a trained run for TF Serving, and localize feature files with an export."""
