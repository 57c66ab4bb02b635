"""What the models read: the emoji and clip-art datasets, pictures made canonical, the teacher's vocabulary."""
