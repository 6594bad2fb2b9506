"""`python -m carnet_core ...`: the `carnet` command, where its script is not on PATH (a
plugin's throwaway environment layered on another)."""

from carnet_core.cli import main

main()
