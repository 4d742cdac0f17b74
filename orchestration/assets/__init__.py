"""Assets by stage: ingestion → transform → features → training → evaluation → serving."""
