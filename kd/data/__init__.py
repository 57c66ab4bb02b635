"""What the models read: the emoji and clip-art datasets, and pictures made canonical."""
