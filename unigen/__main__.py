import sys

from unigen.cli import main

sys.exit(main())
