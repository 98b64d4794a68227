"""Instrument capabilities, drivers and the datasets the replay microscope plays back."""
