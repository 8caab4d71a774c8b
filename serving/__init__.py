"""The FastAPI scoring service: `serving.app.create_app`, run by `triage serve` (serving.server).

serving imports model, never training (DESIGN.md: training -> model <- serving); the README's API
section lists the endpoints, settings and error codes.
"""
