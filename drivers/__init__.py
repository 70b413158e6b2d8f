"""QCoDeS drivers for the thermal-link hardware (filter, attenuator, ZI readout)."""
