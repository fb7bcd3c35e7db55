"""riskradar: serverless user-feedback risk triage (the domain package shared by every function)."""

__version__ = "0.1.0"
