-- A stored commit found already clean when it was stored: scrubbing its record and enrichment
-- under the gateway's scrub rules of that version (`gitview_core::scrub::RULES_VERSION`) would
-- change nothing, because the runner scrubbed it (its account scrubs) or it holds nothing to
-- scrub. Reads for an account that scrubs pass such rows through as stored, and scrub the
-- rest (rows stored raw before the policy was turned on, or clean only under older rules).
-- NULL: not checked (the account did not scrub when it was stored) or not clean.
--
-- A column without a default: adding it rewrites nothing, so it takes no time on a large table.
ALTER TABLE commits ADD COLUMN clean_under integer;
