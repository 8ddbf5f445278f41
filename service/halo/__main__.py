import sys

from halo.cli import main

sys.exit(main())
