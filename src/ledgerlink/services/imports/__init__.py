"""Statement files in: match a parsed file's accounts and entries to what is stored, merge
what is already known (from webhooks or sync), seal and store the rest, whole file or nothing,
and post one summary card to the thread (issue 10)."""
