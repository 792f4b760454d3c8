"""``python -m smame``: the ``smame`` command."""

from smame.cli import main

main()
