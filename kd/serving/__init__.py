"""What the demo serves: predictions, the pages' contents, examples and the live distillation."""
