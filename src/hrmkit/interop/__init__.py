"""The reference code's files (sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels): datasets and checkpoints."""
