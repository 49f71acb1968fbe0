"""The live side: metrics, logs, heartbeat and health (the engine itself joins them here)."""
