"""The report's presentation: PNG charts (with the font they are drawn in) and the Markdown pages."""
