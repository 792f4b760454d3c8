"""The operator console (SPEC S1, S8, S9): served by the API app, assets in the package."""

from smame.web.console import install_console

__all__ = ["install_console"]
