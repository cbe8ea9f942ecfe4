-- calls_today counts the conversations of calls_day: the agent's local date (their
-- site's time zone; UTC without a site). The first call of a new day starts the
-- count again, so no nightly job is needed; a reader takes calls_today as 0 when
-- calls_day is not today.
ALTER TABLE agents ADD COLUMN calls_day date;
