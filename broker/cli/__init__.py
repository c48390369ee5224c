"""`brokerctl`: the command line for terminals and CI pipelines, over the public REST API only."""
