"""The contracts every area shares: table specs, export file formats, listener partitions, settings, text."""
