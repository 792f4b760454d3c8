"""smame (スマメ): Japan's next-generation smart meter system in Python."""

__version__ = "0.1.0"
