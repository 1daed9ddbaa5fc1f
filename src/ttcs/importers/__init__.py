"""Importers of other tools' outputs as ttcs runs."""
