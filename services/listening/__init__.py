"""listening: ingests posts, de-duplicates them, analyses them and announces them."""
