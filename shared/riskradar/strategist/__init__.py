"""The strategist side: verdicts, merges, interventions and their effect, and the audit trail."""
