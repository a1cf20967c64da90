"""Rasa store classes for the production profile (see endpoints.prod.yml)."""
