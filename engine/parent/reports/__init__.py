"""What the report and compare commands read back: result and stream files, grouped and merged, and what the report draws."""
