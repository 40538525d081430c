"""Benchmarks of ecr-crawler against an ECR + STS simulator: `python -m bench.run`."""
