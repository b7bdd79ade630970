"""The ``insight`` command: parses arguments, calls the packages below and prints the result."""
from insight.cli.main import main

__all__ = ["main"]
