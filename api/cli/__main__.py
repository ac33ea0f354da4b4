"""`python -m api.cli` runs the `rag` command line."""

from api.cli.main import main

main()
