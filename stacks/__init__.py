"""The deployment units (stacks) of one environment, and the Stage that groups them."""
