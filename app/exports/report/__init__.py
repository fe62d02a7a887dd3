"""The footprint report: HTML with inline SVG charts, and PDF via headless Chromium."""
