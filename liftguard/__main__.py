import sys

from liftguard.cli import main

sys.exit(main())
