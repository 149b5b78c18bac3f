"""Demo data: `hufen demo` fills the database with a realistic brand group, its dealers and owners."""
