"""The load benchmark's parts (`python -m tools.load_benchmark` runs them).

deadline: the run's time limit; servers: commands, endpoints and process groups;
stock: the stock `rasa init` assistant; services: PostgreSQL and Redis; traffic:
the conversations sent and timed; lost: the lost-message check; profiles: the
default and production runs; output: the printed tables.
"""
