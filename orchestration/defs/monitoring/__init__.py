"""Monitoring: Evidently drift, drift alerts and their review, the retraining sensor."""
