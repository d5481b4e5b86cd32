"""The Faust worker: agents turning incidents into cases, cases into pages, replies into answers."""
