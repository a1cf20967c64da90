"""Custom Rasa NLU components of the leg-cramp assistant."""
