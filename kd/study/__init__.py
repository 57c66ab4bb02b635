"""Making and measuring the shipped models: the pipeline, evaluation, the study and its report."""
