"""Training and distillation: the losses, the training loop, the Distiller and what it feeds on."""
