"""python -m devtools.local (what `make local` runs)."""

from devtools.local.server import main

main()
