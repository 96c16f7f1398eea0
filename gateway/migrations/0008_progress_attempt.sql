-- The attempt whose runner wrote each progress event (its token's), so that the operator shows a
-- retried run its own progress, not the last one of the attempt before. NULL for events written
-- before this column existed.
ALTER TABLE progress_events ADD COLUMN attempt integer;
