"""``python -m relucompile`` runs the command line."""
from relucompile.cli.main import main

raise SystemExit(main())
