"""tweet-triage's model: everything that turns tweet text into triage scores.

Shared by training and serving. Imports neither fastapi nor datasets; torch and transformers are
imported lazily, only where the transformer path is used.
"""
