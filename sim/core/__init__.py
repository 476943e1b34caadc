"""Small core shared by every stage: parameter metadata, validation helpers and the result schema."""
