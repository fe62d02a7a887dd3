"""CBAM: relevance of CN codes, the data pack (JSON) and its XLSX."""
