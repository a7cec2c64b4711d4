"""What turns stored trials into tables: the table model the dashboard reads, paired
statistics and significance, cell text, Markdown, LaTeX and CSV, the leakage table and
the reference run."""
