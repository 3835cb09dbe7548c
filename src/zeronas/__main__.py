"""``python -m zeronas ...``: the same command line as ``zeronas ...``."""

from .cli import main

if __name__ == "__main__":
    main()
