"""`python -m meshmark_tasks.cli` is the `meshmark` command."""

import sys

from meshmark_tasks.cli import main

sys.exit(main())
