"""The software side of the hardware: compiler, models, driver, generation and verification."""
