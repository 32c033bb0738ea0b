"""Training: losses (focal, distillation), the trainer, distributed launch, distillation."""
