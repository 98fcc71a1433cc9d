"""`python -m kgc_lite` is `kgc-lite`."""

from kgc_lite.cli import main

main()
