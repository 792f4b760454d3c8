"""A local multi-process deployment: ``smame cluster up`` and ``smame cluster down`` (issue 13)."""
