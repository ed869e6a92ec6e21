"""Small pure helpers for the admin pages: word-level diffs and server-side SVG charts."""
