"""Entry point of ``pulumi up`` in bootstrap/ (see bootstrap/program.py)."""

from bootstrap.program import main

main()
