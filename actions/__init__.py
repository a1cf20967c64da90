"""Custom actions of the leg-cramp assistant (run with `python -m tools.action_server`).

Modules, by responsibility:
    content_store: the curated, validated, hot-reloaded content store.
    safety: the deterministic red-flag and personal-advice matchers.
    answering: actions that answer from the store (safety is checked first).
    fallback: what to do when the classifier is unsure.
    channels: how choices are rendered on each output channel.
    privacy: "delete my data" (the tracker store does the deleting).
"""
