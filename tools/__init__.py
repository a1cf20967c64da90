"""Command-line scripts of the project (build, run, chat, benchmark)."""
