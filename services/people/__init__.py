"""The staff directory and the roster of trained peer supporters."""
