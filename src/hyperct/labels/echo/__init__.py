"""Echo curation: match each CT to its patient's nearest echo exam and apply the thresholds."""
