import sys

from healthmap.cli import main

sys.exit(main())
