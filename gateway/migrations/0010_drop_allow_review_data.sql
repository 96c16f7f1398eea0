-- accounts.allow_review_data came from the seed's list of account policy flags ("review data
-- allowed") but nothing ever read or wrote it: no route sets it and no decision follows it. A
-- flag that looks like a policy and is none misleads whoever reads the schema, so it goes; a
-- policy that needs it will come back with the code that honours it.
ALTER TABLE accounts DROP COLUMN allow_review_data;
