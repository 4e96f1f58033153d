"""A RunPod-compatible Serverless endpoint server for the demo, the tests and the benchmarks (see simulator.app)."""
