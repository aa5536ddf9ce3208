"""python -m dcign: the command-line interface."""

from .cli import main

main()
