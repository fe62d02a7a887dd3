"""Product Category Rules: the rule schema, its interpreter, the named use-phase and end-of-life
models, and the versioned registry with the association workflow."""
