"""The live engine: streaming features, execution through a broker port, state, safety, observability."""
