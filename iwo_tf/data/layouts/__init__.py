"""One reader per public feature layout (docs/DATA.md). Each `read(...)` returns a `LayoutContents`."""
