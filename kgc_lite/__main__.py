"""`python -m kgc_lite` is `kgc-lite`."""

from .cli import main

main()
