"""How Rasa runs in this project's processes.

The one fenced module of changes to Rasa's internals (`rasa_patches`), the
pieces it installs, and garbage-collector tuning.
"""
