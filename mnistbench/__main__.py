import sys

from mnistbench.cli import main

sys.exit(main())
