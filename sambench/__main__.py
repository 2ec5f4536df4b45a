import sys

from sambench.app.cli import main

sys.exit(main())
