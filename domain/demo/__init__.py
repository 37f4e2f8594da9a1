"""The bundled demo scenario (``scenario.jsonl``), a JSON Lines file of command documents."""
