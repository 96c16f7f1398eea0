-- A text artifact found already clean when it was stored, as commits are (0014): scrubbing it
-- line by line under the gateway's scrub rules of that version would change nothing (a
-- scrubbing account's runner writes its outputs scrubbed). Reads for an account that scrubs
-- stream it as stored, with its length and ETag, instead of scrubbing every line of it again
-- (git/git's 6.5 MB report page, read by fifty people at once, took seconds each). NULL: not
-- checked (the account did not scrub, or the artifact is not text) or not clean.
ALTER TABLE artifacts ADD COLUMN clean_under integer;
