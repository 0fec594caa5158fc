"""Export: published plans written as files and pushed to the ERP."""
