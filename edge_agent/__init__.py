"""The edge agent: runs on the microscope PC, drives the instrument, never loses a measurement."""
