"""Tools for content staff: check, evaluate, report, publish and roll back.

Run them through make (`make check`, `make evaluate`, `make publish`,
`make rollback`) or as modules (`python -m tools.content.check`); see
docs/content-guide.md. Importing this package does nothing.
"""
