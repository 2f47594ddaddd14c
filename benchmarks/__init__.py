"""Speed claims of the project, each reported as a ratio against a reference measured in the same run."""
