"""One reader per public feature layout (DATA.md). Each `read(...)` returns a `LayoutContents`."""
