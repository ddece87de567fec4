import sys

from selvsync.cli import main

sys.exit(main())
