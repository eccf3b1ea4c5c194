"""`python -m keras_rnnzoo.cli ...` is `rnnzoo ...` (useful without the console script on PATH)."""

from keras_rnnzoo.cli import main

main()
