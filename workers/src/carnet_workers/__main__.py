"""`python -m carnet_workers worker|scheduler …` is `carnet worker|scheduler …`."""

from carnet_core.cli import main

main()
