"""Small typed wrappers over AWS services: the only modules of riskradar that call boto3."""
