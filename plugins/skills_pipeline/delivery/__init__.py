"""What downstream systems receive: the versioned archive document of a person (docs/archive-document.md)."""
