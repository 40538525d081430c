"""ecr-crawler: a complete, current inventory of AWS Elastic Container Registry."""

__version__ = "0.1.0"
