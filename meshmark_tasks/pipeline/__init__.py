"""The nightly run's steps as plain functions: the DAG tasks are thin wrappers around these."""
