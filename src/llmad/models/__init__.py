"""Language-model backbones (offline registry) and adapters (full, head, LoRA, native LoReFT)."""
