"""`python -m keras_rnnzoo` runs the `rnnzoo` command."""

import sys

from keras_rnnzoo.cli import main

sys.exit(main())
