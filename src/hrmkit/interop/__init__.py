"""The reference code's files (sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels): importing their datasets and checkpoints."""
