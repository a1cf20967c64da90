import os

# As the Makefile exports: Rasa 3.6 uses SQLAlchemy 1.4 APIs that 2.0 dropped.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
