#!/usr/bin/env python
from hufen.cli import main

if __name__ == "__main__":
    main()
